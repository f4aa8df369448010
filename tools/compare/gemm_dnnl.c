/* OpenBLAS sgemm against oneDNN 2.6 (Debian's libdnnl-dev) on FastVim-T's per-image in_proj and
 * out_proj shapes at 224 px, single-threaded, over 24 distinct weights (one per block, so they
 * do not all sit in cache), the weights stored (K, N) as the engine keeps them. Three ways:
 * OpenBLAS cblas_sgemm (memset, then beta 1, as the engine calls it), oneDNN's matmul
 * primitive with each weight reordered once into the layout it asks for, and dnnl_sgemm on
 * the weights as they are. Argument 2 caps oneDNN at AVX2 (run it with OPENBLAS_CORETYPE=Haswell
 * for OpenBLAS's AVX2 kernels) to see an AVX2-only machine. Not part of the build:
 *   apt-get install libdnnl-dev
 *   gcc -O2 tools/compare/gemm_dnnl.c -o /tmp/gemm_dnnl -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *       -lopenblas -ldnnl -fopenmp && /tmp/gemm_dnnl
 *   OPENBLAS_CORETYPE=Haswell /tmp/gemm_dnnl 2 */
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define CHECK(x) do{dnnl_status_t s_=(x); if(s_!=dnnl_success){printf("dnnl error %d at %s\n",s_,#x);exit(1);}}while(0)
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  int isa = argc>1?atoi(argv[1]):0;
  openblas_set_num_threads(1); omp_set_num_threads(1);
  if(isa==2) CHECK(dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx2));
  dnnl_engine_t eng; CHECK(dnnl_engine_create(&eng,dnnl_cpu,0));
  dnnl_stream_t st; CHECK(dnnl_stream_create(&st,eng,dnnl_stream_default_flags));
  int shapes[2][3]={{197,768,192},{197,192,384}};
  for(int round=0;round<3;round++) for(int s=0;s<2;s++){
    int t=shapes[s][0],n=shapes[s][1],k=shapes[s][2];
    float *x=malloc(4*t*k),*c=malloc(4*t*n),*c2=malloc(4*t*n);
    float *w[24]; for(int i=0;i<24;i++){w[i]=malloc(4*n*k); for(int j=0;j<n*k;j++) w[i][j]=0.01f*((j*7+i)%13)-0.06f;}
    for(int j=0;j<t*k;j++) x[j]=0.01f*(j%11)-0.05f;
    dnnl_dims_t sd={t,k}, wd={k,n}, dd={t,n};
    dnnl_memory_desc_t smd,wmd,wany,dmd;
    CHECK(dnnl_memory_desc_init_by_tag(&smd,2,sd,dnnl_f32,dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&wmd,2,wd,dnnl_f32,dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&wany,2,wd,dnnl_f32,dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&dmd,2,dd,dnnl_f32,dnnl_ab));
    dnnl_matmul_desc_t mdesc; CHECK(dnnl_matmul_desc_init(&mdesc,&smd,&wany,NULL,&dmd));
    dnnl_primitive_desc_t pd; CHECK(dnnl_primitive_desc_create(&pd,&mdesc,NULL,eng,NULL));
    const char*impl; CHECK(dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&impl));
    const dnnl_memory_desc_t *wpk=dnnl_primitive_desc_query_md(pd,dnnl_query_weights_md,0);
    dnnl_primitive_t mm; CHECK(dnnl_primitive_create(&mm,pd));
    dnnl_memory_t wm[24], sm, dm;
    CHECK(dnnl_memory_create(&sm,&smd,eng,x)); CHECK(dnnl_memory_create(&dm,&dmd,eng,c2));
    dnnl_primitive_desc_t rpd; CHECK(dnnl_reorder_primitive_desc_create(&rpd,&wmd,eng,wpk,eng,NULL));
    dnnl_primitive_t ro; CHECK(dnnl_primitive_create(&ro,rpd));
    for(int i=0;i<24;i++){ dnnl_memory_t src; CHECK(dnnl_memory_create(&src,&wmd,eng,w[i]));
      CHECK(dnnl_memory_create(&wm[i],wpk,eng,DNNL_MEMORY_ALLOCATE));
      dnnl_exec_arg_t a[2]={{DNNL_ARG_FROM,src},{DNNL_ARG_TO,wm[i]}};
      CHECK(dnnl_primitive_execute(ro,st,2,a)); dnnl_memory_destroy(src);}
    CHECK(dnnl_stream_wait(st));
    if(round==0) printf("%dx%dx%d: matmul impl %s\n",t,n,k,impl);
    for(int mode=0;mode<3;mode++){
      double ts[7];
      for(int rep=0;rep<7;rep++){
        double t0=now();
        for(int i=0;i<24;i++){
          if(mode==0){ memset(c,0,4*t*n); cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,t,n,k,1,x,k,w[i],n,1,c,n);}
          else if(mode==1){ dnnl_exec_arg_t a[3]={{DNNL_ARG_SRC,sm},{DNNL_ARG_WEIGHTS,wm[i]},{DNNL_ARG_DST,dm}};
            CHECK(dnnl_primitive_execute(mm,st,3,a)); }
          else CHECK(dnnl_sgemm('N','N',t,n,k,1,x,k,w[i],n,0,c2,n));
        }
        ts[rep]=now()-t0;
      }
      for(int a=0;a<7;a++)for(int b=a+1;b<7;b++) if(ts[b]<ts[a]){double q=ts[a];ts[a]=ts[b];ts[b]=q;}
      printf("round %d %dx%dx%d %-16s median %.1f GFLOP/s (best %.1f)\n",round,t,n,k,mode==0?"openblas":mode==1?"dnnl matmul pk":"dnnl_sgemm",24.0*t*n*k/ts[3]/1e9,24.0*t*n*k/ts[0]/1e9);
    }
    double md=0; for(int j=0;j<t*n;j++){double d=c[j]-c2[j]; if(d<0)d=-d; if(d>md)md=d;} printf("  max diff %g\n",md);
  }
}
