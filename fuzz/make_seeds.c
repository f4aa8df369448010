// Writes small JPEG seeds for the layouts the shared fixtures lack, so that the fuzzer
// starts from every branch of jpeg_decoder.c: RGB (Adobe transform 0), YCCK, a
// two-component JCS_UNKNOWN file (refused as an unknown colour space), arithmetic coding,
// progressive gray, and a progressive YCbCr file with 2,090 scans (over the 1,000-scan limit).
//
//   make_seeds OUTDIR       (built and run by fuzz/run.sh; plain libjpeg, no sanitizers)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static void write_jpeg(const char *dir, const char *name, int width, int height, int components,
                       J_COLOR_SPACE in_space, J_COLOR_SPACE jpeg_space, int progressive, int arith,
                       int many_scans) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &out_size);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = components;
    c.in_color_space = in_space;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, jpeg_space);
    jpeg_set_quality(&c, 75, TRUE);
    c.arith_code = arith ? TRUE : FALSE;
    jpeg_scan_info *scans = NULL;
    if (progressive) jpeg_simple_progression(&c);
    if (many_scans) {
        // DC first + 10 refinements interleaved, then for every component and every AC
        // coefficient a first scan at Al=10 and 10 refinement scans (libjpeg's encoder
        // accepts Al <= 10 for 8-bit samples).
        int n = 11 + components * 63 * 11, k = 0;
        scans = calloc((size_t)n, sizeof *scans);
        for (int al = 10; al >= 0; al--, k++) {
            scans[k].comps_in_scan = components;
            for (int ci = 0; ci < components; ci++) scans[k].component_index[ci] = ci;
            scans[k].Ss = 0; scans[k].Se = 0;
            scans[k].Ah = al == 10 ? 0 : al + 1; scans[k].Al = al;
        }
        for (int ci = 0; ci < components; ci++)
            for (int band = 1; band <= 63; band++)
                for (int al = 10; al >= 0; al--, k++) {
                    scans[k].comps_in_scan = 1;
                    scans[k].component_index[0] = ci;
                    scans[k].Ss = band; scans[k].Se = band;
                    scans[k].Ah = al == 10 ? 0 : al + 1; scans[k].Al = al;
                }
        c.scan_info = scans;
        c.num_scans = n;
    }
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)width * components);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < width * components; x++) row[x] = (unsigned char)(x * 7 + c.next_scanline * 13);
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&c, rows, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(out, 1, out_size, f) != out_size || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    free(row);
    free(scans);
    free(out);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    const char *d = argv[1];
    write_jpeg(d, "gen-rgb.jpg", 24, 16, 3, JCS_RGB, JCS_RGB, 0, 0, 0);
    write_jpeg(d, "gen-ycck.jpg", 24, 16, 4, JCS_CMYK, JCS_YCCK, 0, 0, 0);
    write_jpeg(d, "gen-cmyk-progressive.jpg", 24, 16, 4, JCS_CMYK, JCS_CMYK, 1, 0, 0);
    write_jpeg(d, "gen-two-components.jpg", 16, 16, 2, JCS_UNKNOWN, JCS_UNKNOWN, 0, 0, 0);
    write_jpeg(d, "gen-ycbcr-arith.jpg", 24, 16, 3, JCS_RGB, JCS_YCbCr, 0, 1, 0);
    write_jpeg(d, "gen-ycbcr-arith-progressive.jpg", 24, 16, 3, JCS_RGB, JCS_YCbCr, 1, 1, 0);
    write_jpeg(d, "gen-gray-progressive.jpg", 17, 9, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 1, 0, 0);
    write_jpeg(d, "gen-ycbcr-many-scans.jpg", 8, 8, 3, JCS_RGB, JCS_YCbCr, 1, 0, 1);
    return 0;
}
