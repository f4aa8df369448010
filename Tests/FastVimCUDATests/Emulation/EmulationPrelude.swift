/// The C++ that makes CUDA kernel sources compile and run on the host: CUDA's keywords and
/// built-ins mapped onto plain C++, and a scheduler that runs a launch block after block,
/// the threads of a block as cooperative fibers so that `__syncthreads` and warp shuffles
/// behave as on a GPU. Compiled into the same shared library as the kernels.
///
/// Blocks run one at a time, so a function-static array is the running block's shared
/// memory. Launches are serialised by one lock (the scheduler's state is global).
///
/// A fiber runs until it reaches a barrier or ends; the scheduler then runs the next one,
/// and releases the barrier once every live thread of the block has arrived (threads that
/// returned count as arrived, as on current GPUs). Warp shuffles are block-wide barriers
/// over an exchange array: every thread of the block must call them the same number of
/// times (no shuffle behind a divergent `if` or after an early `return`), which is how the
/// engine's kernels are written; lanes exchange within their warp of 32 as on a GPU.
///
/// Fibers start once per process (makecontext/setcontext on 64 KiB stacks with a guard
/// page) and switch with _setjmp/_longjmp afterwards: swapcontext saves the signal mask
/// with a system call on every switch, and the per-token reductions of one forward pass
/// switch tens of millions of times.
enum EmulationPrelude {
    static let source = #"""
    #undef _FORTIFY_SOURCE
    #if defined(__APPLE__)
    // Darwin hides the (deprecated) ucontext calls unless asked for them.
    #define _XOPEN_SOURCE 700
    #define _DARWIN_C_SOURCE
    #endif
    #include <math.h>
    #include <stdint.h>
    #include <string.h>
    #include <setjmp.h>
    #include <ucontext.h>
    #include <sys/mman.h>
    #include <mutex>

    #define __global__
    #define __device__
    #define __host__
    #define __forceinline__ inline __attribute__((always_inline))
    #define __noinline__ __attribute__((noinline))
    #define __restrict__ __restrict
    #define __launch_bounds__(...)
    #define __shared__ static

    struct dim3 { unsigned int x, y, z; };
    dim3 threadIdx, blockIdx, blockDim, gridDim;
    static const int warpSize = 32;

    static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
    // glibc's math.h already declares its own __expf and __logf.
    #define __expf expf
    #define __logf logf
    static inline float __fdividef(float a, float b) { return a / b; }
    static inline float __saturatef(float x) { return fminf(fmaxf(x, 0.f), 1.f); }
    template <class T> static inline T __ldg(const T* p) { return *p; }
    // Bit casts (the bf16 conversion reads a float's bits).
    static inline unsigned int __float_as_uint(float x) { unsigned int u; memcpy(&u, &x, 4); return u; }
    static inline float __uint_as_float(unsigned int u) { float x; memcpy(&x, &u, 4); return x; }
    static inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
    static inline float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
    static inline int min(int a, int b) { return a < b ? a : b; }
    static inline int max(int a, int b) { return a > b ? a : b; }
    static inline long min(long a, long b) { return a < b ? a : b; }
    static inline long max(long a, long b) { return a > b ? a : b; }
    // Fibers never preempt one another, so a read-modify-write is atomic here.
    static inline float atomicAdd(float* p, float v) { float old = *p; *p = old + v; return old; }
    static inline int atomicAdd(int* p, int v) { int old = *p; *p = old + v; return old; }

    namespace fv_emu {
    enum State : unsigned char { Ready, Arrived, Done };
    const int kMaxThreads = 1024;
    const size_t kStackBytes = 64 * 1024, kGuardBytes = 4096;

    struct Fiber {
        jmp_buf resume;
        ucontext_t start;
        char* stack;
        State state;
        bool started;
        unsigned phase;
    };

    static Fiber fibers[kMaxThreads];
    static int current, threads;
    static jmp_buf scheduler;
    static void (*kernel)(void**);
    static void** params;
    // Two exchange arrays used alternately: a thread can only write one again after the
    // barrier of the next shuffle, by which time every thread has read it.
    static uint64_t exchange[2][kMaxThreads];
    static std::mutex launchLock;

    [[noreturn]] static void enter(int t);

    // Suspends the running fiber (its state already set) and runs the next ready one
    // after it, or returns to the scheduler when none is left in this pass.
    __attribute__((noinline)) static void leave(int self) {
        if (_setjmp(fibers[self].resume)) return;
        for (int t = self + 1; t < threads; t++)
            if (fibers[t].state == Ready) enter(t);
        _longjmp(scheduler, 1);
    }

    // A fiber's whole life: it runs the kernel once per block it is scheduled for.
    static void fiberMain() {
        for (;;) {
            kernel(params);
            fibers[current].state = Done;
            leave(current);
        }
    }

    [[noreturn]] static void enter(int t) {
        current = t;
        threadIdx.x = (unsigned)t;
        Fiber& f = fibers[t];
        if (f.started) _longjmp(f.resume, 1);
        f.started = true;
        getcontext(&f.start);
        f.start.uc_stack.ss_sp = f.stack + kGuardBytes;
        f.start.uc_stack.ss_size = kStackBytes;
        f.start.uc_link = nullptr;
        makecontext(&f.start, fiberMain, 0);
        setcontext(&f.start);
        __builtin_unreachable();
    }

    static bool reserveStacks(int count) {
        for (int t = 0; t < count; t++) {
            if (fibers[t].stack) continue;
            void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) return false;
            // Stacks grow down: an overflow faults on the guard page instead of corrupting a neighbour.
            mprotect(p, kGuardBytes, PROT_NONE);
            fibers[t].stack = (char*)p;
        }
        return true;
    }

    static void runCooperatively() {
        for (int t = 0; t < threads; t++) { fibers[t].state = Ready; fibers[t].phase = 0; }
        for (;;) {
            int first = -1;
            for (int t = 0; t < threads && first < 0; t++) if (fibers[t].state == Ready) first = t;
            if (first < 0) return;
            if (_setjmp(scheduler) == 0) enter(first);
            // Every live thread is at a barrier (or all are done): release it.
            for (int t = 0; t < threads; t++) if (fibers[t].state == Arrived) fibers[t].state = Ready;
        }
    }

    template <class T> static T exchangeWith(T value, int source) {
        static_assert(sizeof(T) <= sizeof(uint64_t), "shuffles move at most 8 bytes");
        int self = current;
        unsigned p = fibers[self].phase;
        fibers[self].phase ^= 1u;
        uint64_t bits = 0;
        memcpy(&bits, &value, sizeof(T));
        exchange[p][self] = bits;
        fibers[self].state = Arrived;
        leave(self);
        if (source < 0 || source >= threads) return value;
        T out;
        memcpy(&out, &exchange[p][source], sizeof(T));
        return out;
    }
    } // namespace fv_emu

    static void __syncthreads() {
        fv_emu::fibers[fv_emu::current].state = fv_emu::Arrived;
        fv_emu::leave(fv_emu::current);
    }

    // A source lane past the end of the caller's `width`-lane segment yields the caller's own value.
    template <class T> static T __shfl_xor_sync(unsigned, T var, int laneMask, int width = warpSize) {
        int self = fv_emu::current, lane = self % warpSize;
        int source = lane ^ laneMask, segment = lane & ~(width - 1);
        return fv_emu::exchangeWith(var, source >= segment + width || source >= warpSize ? -1 : self - lane + source);
    }

    template <class T> static T __shfl_down_sync(unsigned, T var, unsigned delta, int width = warpSize) {
        int self = fv_emu::current, lane = self % warpSize;
        int source = (lane % width) + (int)delta;
        return fv_emu::exchangeWith(var, source >= width ? -1 : self + (int)delta);
    }

    // The kernels' parameters from cuLaunchKernel-style `void** kernelParams`: each slot
    // converts to whatever type the kernel declares there.
    struct fv_emu_argument {
        void* slot;
        template <class T> operator T() const { T v; memcpy(&v, slot, sizeof(T)); return v; }
    };

    // Runs `grid` blocks of `block` threads; fibers only when the kernel synchronises.
    // Returns 0, or 1 for an unsupported block size, 2 when stacks cannot be mapped.
    extern "C" int fv_emu_launch(void (*entry)(void**), void** p, int grid, int block, int cooperative) {
        using namespace fv_emu;
        if (block < 1 || block > kMaxThreads || grid < 0) return 1;
        std::lock_guard<std::mutex> guard(launchLock);
        if (cooperative && !reserveStacks(block)) return 2;
        kernel = entry;
        params = p;
        threads = block;
        blockDim = dim3{(unsigned)block, 1, 1};
        gridDim = dim3{(unsigned)grid, 1, 1};
        threadIdx = dim3{0, 0, 0};
        for (int b = 0; b < grid; b++) {
            blockIdx = dim3{(unsigned)b, 0, 0};
            if (cooperative) {
                runCooperatively();
            } else {
                for (int t = 0; t < block; t++) { threadIdx.x = (unsigned)t; entry(p); }
            }
        }
        return 0;
    }
    """#
}
