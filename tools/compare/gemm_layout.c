/* OpenBLAS sgemm, single-threaded, with the weight stored (N, K) as PyTorch keeps it (NT) or
 * transposed to (K, N) (NN), on FastVim-T's per-image in_proj and out_proj shapes at 224 px,
 * over 24 distinct weights (one per block, so they do not all sit in cache). Not part of the build:
 *   gcc -O2 tools/compare/gemm_layout.c -o /tmp/gemm_layout -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas && /tmp/gemm_layout */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(void){
  openblas_set_num_threads(1);
  int shapes[2][3]={{196,768,192},{196,192,384}};
  for(int round=0;round<3;round++) for(int s=0;s<2;s++){
    int m=shapes[s][0],n=shapes[s][1],k=shapes[s][2];
    /* 24 distinct weights, as the blocks have, so they do not all sit in cache */
    float *a=malloc(sizeof(float)*m*k),*c=malloc(sizeof(float)*m*n);
    float *w[24]; for(int i=0;i<24;i++){w[i]=malloc(sizeof(float)*n*k); for(int j=0;j<n*k;j++) w[i][j]=0.01f*(j%7);}
    for(int j=0;j<m*k;j++) a[j]=0.5f;
    for(int mode=0;mode<2;mode++){
      double best=1e9;
      for(int rep=0;rep<5;rep++){
        double t=now();
        for(int i=0;i<24;i++){
          if(mode==0) cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,m,n,k,1,a,k,w[i],k,0,c,n);      /* W (N, K) */
          else cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,m,n,k,1,a,k,w[i],n,0,c,n);            /* W (K, N) */
        }
        t=now()-t; if(t<best)best=t;
      }
      printf("round %d %dx%dx%d %s: %.1f GFLOP/s\n",round,m,n,k,mode?"NN (K,N)":"NT (N,K)",24.0*m*n*k/best/1e9);
    }
  }
}
