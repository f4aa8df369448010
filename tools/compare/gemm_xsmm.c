/* OpenBLAS sgemm against libxsmm 1.17's JIT kernels (Debian's libxsmm-dev) on FastVim-T's
 * per-image in_proj and out_proj shapes at 224 px, single-threaded, over 24 distinct weights
 * (one per block, so they do not all sit in cache). libxsmm reads the operands where they are,
 * without packing, in tiles of MT weight columns by NT tokens (arguments; default 64 32) with
 * the whole K per call. Not part of the build:
 *   apt-get install libxsmm-dev
 *   gcc -O2 tools/compare/gemm_xsmm.c -o /tmp/gemm_xsmm -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *       -lopenblas -lxsmm -lxsmmnoblas -lpthread -lm -ldl && /tmp/gemm_xsmm 64 32 */
#include <cblas.h>
#include <libxsmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  int MT = argc>1?atoi(argv[1]):64, NT = argc>2?atoi(argv[2]):32;
  openblas_set_num_threads(1);
  libxsmm_init();
  int shapes[2][3]={{197,768,192},{197,192,384}};
  for(int round=0;round<3;round++) for(int s=0;s<2;s++){
    int t=shapes[s][0],n=shapes[s][1],k=shapes[s][2];
    float *x=malloc(4*t*k),*c=malloc(4*t*n),*c2=malloc(4*t*n);
    float *w[24]; for(int i=0;i<24;i++){w[i]=malloc(4*n*k); for(int j=0;j<n*k;j++) w[i][j]=0.01f*((j*7+i)%13)-0.06f;}
    for(int j=0;j<t*k;j++) x[j]=0.01f*(j%11)-0.05f;
    /* col-major view: C (n x t, ld n) = W (n x k, ld n) * X (k x t, ld k) */
    float alpha=1, beta=0; int flags=LIBXSMM_GEMM_FLAG_NONE;
    libxsmm_blasint lda=n, ldb=k, ldc=n;
    int tn = t % NT;
    libxsmm_smmfunction kf = libxsmm_smmdispatch(MT,NT,k,&lda,&ldb,&ldc,&alpha,&beta,&flags,NULL);
    libxsmm_smmfunction kt = tn? libxsmm_smmdispatch(MT,tn,k,&lda,&ldb,&ldc,&alpha,&beta,&flags,NULL):NULL;
    if(!kf){printf("no kernel\n");return 1;}
    for(int mode=0;mode<2;mode++){
      double best=1e9;
      for(int rep=0;rep<5;rep++){
        double t0=now();
        for(int i=0;i<24;i++){
          if(mode==0) cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,t,n,k,1,x,k,w[i],n,0,c,n);
          else {
            for(int j=0;j<n;j+=MT) {
              int tok=0;
              for(;tok+NT<=t;tok+=NT) kf(w[i]+j, x+tok*k, c2+tok*n+j);
              if(tn) kt(w[i]+j, x+tok*k, c2+tok*n+j);
            }
          }
        }
        t0=now()-t0; if(t0<best)best=t0;
      }
      printf("round %d %dx%dx%d %s: %.1f GFLOP/s\n",round,t,n,k,mode?"libxsmm":"openblas",24.0*t*n*k/best/1e9);
    }
    double md=0; for(int j=0;j<t*n;j++){double d=c[j]-c2[j]; if(d<0)d=-d; if(d>md)md=d;} printf("  max diff %g\n",md);
  }
}
