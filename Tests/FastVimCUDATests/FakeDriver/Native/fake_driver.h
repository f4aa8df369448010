// What the fake libcublas.so.12 needs of the fake libcuda.so.1 (it links against it, as the
// real cuBLAS sits on the driver): its work goes through the driver's streams, so that a
// GEMM queued on a capturing stream is recorded into the graph like a kernel launch.
#pragma once
#include <stddef.h>
#include <stdint.h>

extern "C" {
typedef int CUresult;

// Queues `work(state)` on `stream` (0: the legacy stream, which runs it at once), or records
// it when the stream is capturing; `release(state)` runs when the work can never run again.
CUresult fvfake_submit(void* stream, void (*work)(void*), void* state, void (*release)(void*));

// 1 when [address, address + bytes) lies inside one live device allocation.
int fvfake_device_range(uint64_t address, size_t bytes);

// 1 when the calling thread has a live context current.
int fvfake_context_current(void);

// What a device-side fault (a kernel or GEMM touching memory it does not own) does: makes
// the context's sticky error CUDA_ERROR_ILLEGAL_ADDRESS, reported by later synchronizations.
void fvfake_fault(const char* message);

// Counters the tests read (see fake_cuda.cpp for the names).
void fvfake_count(const char* name, long delta);
}
