// A fake libcuda.so.1: the driver API subset FastVimCUDA dlsyms (DriverAPI.swift,
// CUDADriver.swift), under cuda.h's (CUDA 12) symbol names and C ABI, on the host. One
// sm_90 GPU whose memory is host memory (a CUdeviceptr is a host address), whose kernels
// are the emulated ones compiled into this library under the names the PTX declares, and
// whose streams queue work until something waits for it, as a GPU runs it later: code that
// reads a result before synchronizing sees stale bytes here too.
//
// Stricter than a driver where that finds bugs sooner: memory is filled with NaN bytes,
// kernel pointer arguments and copy ranges must lie in live allocations (else the context
// gets CUDA_ERROR_ILLEGAL_ADDRESS, reported by the next synchronization, like a GPU
// fault), a copy from or to pageable memory inside a capture is refused, and nothing is
// released behind the caller's back (leaks stay visible in the counters).
#include "fake_driver.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <elf.h>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
// Generated next to the emulated kernels (FakeDriverLibrary.swift): one row per kernel,
// its parameters as p(ointer), i(nt), l(ong), f(loat); a null name ends the table.
struct fvfake_kernel {
    const char* name;
    void (*entry)(void**);
    const char* parameters;
    int cooperative;
};
extern const fvfake_kernel fvfake_kernels[];
int fv_emu_launch(void (*entry)(void**), void** p, int grid, int block, int cooperative);
}

namespace {
enum : CUresult {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, INVALID_DEVICE = 101,
    INVALID_IMAGE = 200, INVALID_CONTEXT = 201, NO_BINARY_FOR_GPU = 209, INVALID_PTX = 218,
    UNSUPPORTED_PTX_VERSION = 222, INVALID_HANDLE = 400, ILLEGAL_STATE = 401, NOT_FOUND = 500,
    NOT_READY = 600, ILLEGAL_ADDRESS = 700, NOT_SUPPORTED = 801, CAPTURE_UNSUPPORTED = 900,
    CAPTURE_INVALIDATED = 901, CAPTURE_WRONG_THREAD = 908,
};
const int kCaptureRelaxed = 2;
const size_t kTotalBytes = size_t(80) << 30;
const char* kName = "NVIDIA H100 80GB HBM3 (fake: host emulation)";

struct ErrorName { int code; const char* name; const char* text; };
const ErrorName kErrors[] = {
#include "cuda_errors.inc"
};

using Op = std::shared_ptr<std::function<void()>>;

struct Stream {
    std::deque<Op> pending;
    bool capturing = false, invalidated = false;
    int mode = 0;
    std::thread::id captureThread;
    std::vector<Op> captured;
};
struct Event {
    unsigned flags = 0;
    bool recorded = false, complete = false;
    double milliseconds = 0;
    Stream* stream = nullptr;
};
struct Function {
    std::string name;
    const fvfake_kernel* kernel;
    std::vector<size_t> sizes;
};
struct Module { std::vector<Function*> functions; };
struct Graph { std::vector<Op> ops; };
struct GraphExec { std::vector<Op> ops; };
struct Context { int retains = 0; };

std::recursive_mutex mutex;
bool initialized = false;
int driverVersion = 12090;
Context primary;
thread_local Context* current = nullptr;
std::map<uint64_t, size_t> deviceMemory;
std::map<uintptr_t, size_t> pinnedMemory;
size_t deviceBytes = 0;
std::map<Stream*, std::unique_ptr<Stream>> streams;
std::map<Event*, std::shared_ptr<Event>> events;
std::map<Module*, std::unique_ptr<Module>> modules;
std::map<Function*, std::shared_ptr<Function>> functions;
std::map<Graph*, std::unique_ptr<Graph>> graphs;
std::map<GraphExec*, std::unique_ptr<GraphExec>> execs;
std::map<std::string, long> counters;
CUresult sticky = SUCCESS;
std::string lastFault;
struct Injection { std::string function; int skip = 0, times = 0; CUresult code = SUCCESS; } injection;

const auto epoch = std::chrono::steady_clock::now();
double now() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - epoch).count(); }

bool injected(const char* function, CUresult& rc) {
    if (injection.function != function) return false;
    if (injection.skip-- > 0) return false;
    rc = injection.code;
    if (--injection.times <= 0) injection.function.clear();
    return true;
}

#define ENTER(name)                                              \
    std::lock_guard<std::recursive_mutex> guard(mutex);          \
    do {                                                         \
        CUresult injectedCode;                                   \
        if (injected(name, injectedCode)) return injectedCode;   \
    } while (0)

#define REQUIRE_CONTEXT()                                              \
    do {                                                               \
        if (!initialized) return NOT_INITIALIZED;                      \
        if (current == nullptr || primary.retains == 0) return INVALID_CONTEXT; \
    } while (0)

void fault(const std::string& message) {
    if (sticky == SUCCESS) sticky = ILLEGAL_ADDRESS;
    lastFault = message;
    counters["faults"]++;
    fprintf(stderr, "fake CUDA: %s\n", message.c_str());
}

// The allocation (base, size) holding [address, address + bytes), if one does.
const std::pair<const uint64_t, size_t>* owner(const std::map<uint64_t, size_t>& live, uint64_t address, size_t bytes) {
    auto it = live.upper_bound(address);
    if (it == live.begin()) return nullptr;
    --it;
    if (address + bytes > it->first + it->second) return nullptr;
    return &*it;
}

bool isDevice(uint64_t address, size_t bytes) { return owner(deviceMemory, address, bytes) != nullptr; }

bool isPinned(const void* p, size_t bytes) {
    auto it = pinnedMemory.upper_bound(uintptr_t(p));
    if (it == pinnedMemory.begin()) return false;
    --it;
    return uintptr_t(p) + bytes <= it->first + it->second;
}

CUresult lookup(void* handle, Stream*& stream) {
    stream = nullptr;
    // CU_STREAM_LEGACY (0x1) and CU_STREAM_PER_THREAD (0x2) are the legacy stream here.
    if (uintptr_t(handle) <= 2) return SUCCESS;
    auto it = streams.find((Stream*)handle);
    if (it == streams.end()) return INVALID_HANDLE;
    stream = it->second.get();
    return SUCCESS;
}

// A failing call on a capturing stream invalidates the capture, as the driver does.
CUresult fail(Stream* s, CUresult rc) {
    if (rc != SUCCESS && s && s->capturing) s->invalidated = true;
    return rc;
}

CUresult enqueue(Stream* s, Op op) {
    if (!s) {
        // The legacy stream: in order with itself, and nothing else of ours waits on it.
        if (sticky == SUCCESS) (*op)();
        return SUCCESS;
    }
    if (s->capturing) {
        if (s->invalidated) return CAPTURE_INVALIDATED;
        s->captured.push_back(std::move(op));
        counters["captured_ops"]++;
        return SUCCESS;
    }
    s->pending.push_back(std::move(op));
    return SUCCESS;
}

// Runs what a stream has queued; after a fault the context is lost and nothing more runs.
void flush(Stream* s) {
    if (!s) return;
    while (!s->pending.empty()) {
        Op op = std::move(s->pending.front());
        s->pending.pop_front();
        if (sticky == SUCCESS) (*op)();
    }
}

void flushAll() {
    for (auto& entry : streams) flush(entry.second.get());
}

bool capturingStrictly() {
    for (auto& entry : streams)
        if (entry.second->capturing && entry.second->mode != kCaptureRelaxed) return true;
    return false;
}

int maxPTXVersion() {
    // PTX ISA version each CUDA 12 driver reads (x10): 12.0 -> 8.0 ... 12.5 and 12.6 -> 8.5, 12.8 -> 8.7, 12.9 -> 8.8.
    int minor = driverVersion % 1000 / 10;
    if (driverVersion / 1000 != 12) return driverVersion / 1000 > 12 ? 90 : 0;
    if (minor <= 5) return 80 + minor;
    if (minor <= 7) return 85 + (minor - 6);
    return 79 + minor;
}

size_t paramSize(const std::string& declaration) {
    size_t space = declaration.find_first_of("[");
    if (space != std::string::npos) return strtoul(declaration.c_str() + space + 1, nullptr, 10);
    for (const char* t : {".u64", ".s64", ".b64", ".f64"}) if (declaration.find(t) != std::string::npos) return 8;
    for (const char* t : {".u32", ".s32", ".b32", ".f32"}) if (declaration.find(t) != std::string::npos) return 4;
    for (const char* t : {".u16", ".s16", ".b16", ".f16"}) if (declaration.find(t) != std::string::npos) return 2;
    return 1;
}

size_t expectedSize(char kind) { return kind == 'i' || kind == 'f' ? 4 : 8; }

// Binds a kernel the module declares to the emulated kernel of that name; `sizes` are its
// parameters' sizes as the module declares them.
CUresult bindKernel(const std::string& name, const std::vector<size_t>& sizes, Module& module) {
    const fvfake_kernel* kernel = nullptr;
    for (const fvfake_kernel* k = fvfake_kernels; k->name; k++) if (name == k->name) kernel = k;
    if (!kernel) {
        lastFault = "cuModuleLoadData: no emulated kernel named " + name;
        return INVALID_IMAGE;
    }
    // The module and the emulated kernel must be the same function: a mismatch means the
    // sources diverged, and launches would feed the emulation misread arguments.
    size_t count = strlen(kernel->parameters);
    bool same = count == sizes.size();
    for (size_t i = 0; same && i < count; i++) same = sizes[i] == expectedSize(kernel->parameters[i]);
    if (!same) {
        lastFault = "cuModuleLoadData: the parameters of " + name + " do not match the emulated kernel's";
        return INVALID_PTX;
    }
    auto function = std::make_shared<Function>();
    function->name = name;
    function->kernel = kernel;
    function->sizes = sizes;
    Function* handle = function.get();
    functions[handle] = std::move(function);
    module.functions.push_back(handle);
    return SUCCESS;
}

// A CUBIN (NVRTC's machine code, loaded when the driver cannot JIT its PTX): an ELF for
// EM_CUDA whose e_flags carry the SM it was built for and whose kernels are `.text.<name>`
// sections. Parameter sizes live in .nv.info attributes; the emulated kernel's are taken.
CUresult parseCubin(const unsigned char* image, Module& module) {
    Elf64_Ehdr header;
    memcpy(&header, image, sizeof header);
    if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_machine != 190 /* EM_CUDA */ || header.e_shoff == 0) return INVALID_IMAGE;
    if ((header.e_flags & 0xff) != 90) return NO_BINARY_FOR_GPU;
    std::vector<Elf64_Shdr> sections(header.e_shnum);
    memcpy(sections.data(), image + header.e_shoff, sizeof(Elf64_Shdr) * header.e_shnum);
    const char* names = (const char*)image + sections[header.e_shstrndx].sh_offset;
    for (const Elf64_Shdr& section : sections) {
        const char* name = names + section.sh_name;
        if (strncmp(name, ".text.", 6) != 0) continue;
        const fvfake_kernel* kernel = nullptr;
        for (const fvfake_kernel* k = fvfake_kernels; k->name; k++) if (strcmp(name + 6, k->name) == 0) kernel = k;
        std::vector<size_t> sizes;
        for (const char* kind = kernel ? kernel->parameters : ""; *kind; kind++) sizes.push_back(expectedSize(*kind));
        CUresult rc = bindKernel(name + 6, sizes, module);
        if (rc != SUCCESS) return rc;
    }
    return SUCCESS;
}

// Every `.entry name(.param ..., ...)` of the PTX: the name and its parameters' sizes.
CUresult parseModule(const std::string& ptx, Module& module) {
    size_t at = ptx.find(".version ");
    if (at != std::string::npos) {
        int major = 0, minor = 0;
        if (sscanf(ptx.c_str() + at, ".version %d.%d", &major, &minor) == 2 && major * 10 + minor > maxPTXVersion())
            return UNSUPPORTED_PTX_VERSION;
    }
    at = ptx.find(".target sm_");
    if (at != std::string::npos && atoi(ptx.c_str() + at + 11) > 90) return NO_BINARY_FOR_GPU;
    for (at = ptx.find(".entry "); at != std::string::npos; at = ptx.find(".entry ", at + 1)) {
        size_t open = ptx.find('(', at), close = ptx.find(')', at);
        if (open == std::string::npos || close == std::string::npos || close < open) return INVALID_PTX;
        std::string name = ptx.substr(at + 7, open - at - 7);
        while (!name.empty() && isspace((unsigned char)name.back())) name.pop_back();
        std::vector<size_t> sizes;
        std::string list = ptx.substr(open + 1, close - open - 1);
        for (size_t p = list.find(".param"); p != std::string::npos; p = list.find(".param", p + 1)) {
            size_t end = list.find(',', p);
            sizes.push_back(paramSize(list.substr(p, end == std::string::npos ? std::string::npos : end - p)));
        }
        CUresult rc = bindKernel(name, sizes, module);
        if (rc != SUCCESS) return rc;
    }
    return SUCCESS;
}

// A launch as queued: the argument values copied when it was made, as the driver does.
void runLaunch(const std::shared_ptr<Function>& f, const std::vector<std::vector<uint64_t>>& values, unsigned grid, unsigned block) {
    const char* kinds = f->kernel->parameters;
    std::vector<void*> params(values.size() + 1);
    for (size_t i = 0; i < values.size(); i++) {
        uint64_t address = values[i][0];
        if (kinds[i] == 'p' && address != 0 && !isDevice(address, 0)) {
            char text[200];
            snprintf(text, sizeof text, "%s: argument %zu (0x%llx) points into no live device allocation", f->name.c_str(), i,
                     (unsigned long long)address);
            return fault(text);
        }
        params[i] = (void*)values[i].data();
    }
    counters["kernels_run"]++;
    int rc = fv_emu_launch(f->kernel->entry, params.data(), int(grid), int(block), f->kernel->cooperative);
    if (rc != 0) fault(f->name + ": the emulator could not run the launch");
}

const ErrorName* errorEntry(CUresult code) {
    for (const ErrorName& e : kErrors) if (e.code == code) return &e;
    return nullptr;
}
} // namespace

extern "C" {
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

CUresult cuGetErrorName(CUresult error, const char** text) {
    if (!text) return INVALID_VALUE;
    const ErrorName* e = errorEntry(error);
    *text = e ? e->name : nullptr;
    return e ? SUCCESS : INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char** text) {
    if (!text) return INVALID_VALUE;
    const ErrorName* e = errorEntry(error);
    *text = e ? e->text : nullptr;
    return e ? SUCCESS : INVALID_VALUE;
}

// Private driver interfaces by UUID. NVRTC 12.9 dlopens libcuda.so.1 for its compile cache
// and asks it for one (calling what it gets unchecked): should it be handed this library,
// it learns there is none and goes without.
CUresult cuGetExportTable(const void** table, const void* uuid) {
    if (!table || !uuid) return INVALID_VALUE;
    *table = nullptr;
    return NOT_SUPPORTED;
}

CUresult cuInit(unsigned int flags) {
    ENTER("cuInit");
    if (flags != 0) return INVALID_VALUE;
    initialized = true;
    return SUCCESS;
}

CUresult cuDriverGetVersion(int* version) {
    ENTER("cuDriverGetVersion");
    if (!version) return INVALID_VALUE;
    *version = driverVersion;
    return SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    ENTER("cuDeviceGetCount");
    if (!initialized) return NOT_INITIALIZED;
    if (!count) return INVALID_VALUE;
    *count = 1;
    return SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    ENTER("cuDeviceGet");
    if (!initialized) return NOT_INITIALIZED;
    if (!device) return INVALID_VALUE;
    if (ordinal != 0) return INVALID_DEVICE;
    *device = 0;
    return SUCCESS;
}

CUresult cuDeviceGetName(char* name, int length, CUdevice device) {
    ENTER("cuDeviceGetName");
    if (!initialized) return NOT_INITIALIZED;
    if (!name || length <= 0) return INVALID_VALUE;
    if (device != 0) return INVALID_DEVICE;
    snprintf(name, size_t(length), "%s", kName);
    return SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice device) {
    ENTER("cuDeviceGetAttribute");
    if (!initialized) return NOT_INITIALIZED;
    if (!value) return INVALID_VALUE;
    if (device != 0) return INVALID_DEVICE;
    switch (attribute) {
    case 1: *value = 1024; return SUCCESS;  // CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK
    case 10: *value = 32; return SUCCESS;   // CU_DEVICE_ATTRIBUTE_WARP_SIZE
    case 16: *value = 132; return SUCCESS;  // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    case 75: *value = 9; return SUCCESS;    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    case 76: *value = 0; return SUCCESS;    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
    default: return INVALID_VALUE;
    }
}

CUresult cuDevicePrimaryCtxRetain(void** context, CUdevice device) {
    ENTER("cuDevicePrimaryCtxRetain");
    if (!initialized) return NOT_INITIALIZED;
    if (!context) return INVALID_VALUE;
    if (device != 0) return INVALID_DEVICE;
    primary.retains++;
    *context = &primary;
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice device) {
    ENTER("cuDevicePrimaryCtxRelease_v2");
    if (!initialized) return NOT_INITIALIZED;
    if (device != 0) return INVALID_DEVICE;
    if (primary.retains == 0) return INVALID_CONTEXT;
    // The last release destroys the context once its work is done; what it still held is
    // left in the counters, so a leak shows instead of being cleaned up here.
    if (--primary.retains == 0) flushAll();
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice device) { return cuDevicePrimaryCtxRelease_v2(device); }

CUresult cuCtxSetCurrent(void* context) {
    ENTER("cuCtxSetCurrent");
    if (!initialized) return NOT_INITIALIZED;
    if (!context) {
        current = nullptr;
        return SUCCESS;
    }
    if (context != &primary || primary.retains == 0) return INVALID_CONTEXT;
    current = &primary;
    return SUCCESS;
}

CUresult cuStreamCreate(void** stream, unsigned int flags) {
    ENTER("cuStreamCreate");
    REQUIRE_CONTEXT();
    if (!stream || (flags & ~1u)) return INVALID_VALUE;
    auto s = std::make_unique<Stream>();
    *stream = s.get();
    streams[s.get()] = std::move(s);
    return SUCCESS;
}

CUresult cuStreamDestroy_v2(void* stream) {
    ENTER("cuStreamDestroy_v2");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS || !s) return INVALID_HANDLE;
    if (s->capturing) return ILLEGAL_STATE;
    // Work already queued completes; the stream goes when it has.
    flush(s);
    for (auto& e : events) if (e.second->stream == s) e.second->stream = nullptr;
    streams.erase(s);
    return SUCCESS;
}

CUresult cuStreamSynchronize(void* stream) {
    ENTER("cuStreamSynchronize");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    if (s && s->capturing) return fail(s, CAPTURE_UNSUPPORTED);
    if (capturingStrictly()) return CAPTURE_UNSUPPORTED;
    flush(s);
    return sticky;
}

CUresult cuModuleLoadData(void** module, const void* image) {
    ENTER("cuModuleLoadData");
    REQUIRE_CONTEXT();
    if (!module || !image) return INVALID_VALUE;
    auto m = std::make_unique<Module>();
    CUresult rc = memcmp(image, ELFMAG, SELFMAG) == 0 ? parseCubin((const unsigned char*)image, *m)
                                                      : parseModule(std::string((const char*)image), *m);
    if (rc != SUCCESS) {
        for (Function* f : m->functions) functions.erase(f);
        return rc;
    }
    *module = m.get();
    modules[m.get()] = std::move(m);
    return SUCCESS;
}

CUresult cuModuleUnload(void* module) {
    ENTER("cuModuleUnload");
    REQUIRE_CONTEXT();
    auto it = modules.find((Module*)module);
    if (it == modules.end()) return INVALID_HANDLE;
    // Launches already queued keep their function alive until they have run.
    for (Function* f : it->second->functions) functions.erase(f);
    modules.erase(it);
    return SUCCESS;
}

CUresult cuModuleGetFunction(void** function, void* module, const char* name) {
    ENTER("cuModuleGetFunction");
    REQUIRE_CONTEXT();
    if (!function || !name) return INVALID_VALUE;
    auto it = modules.find((Module*)module);
    if (it == modules.end()) return INVALID_HANDLE;
    for (Function* f : it->second->functions) {
        if (f->name == name) {
            *function = f;
            return SUCCESS;
        }
    }
    return NOT_FOUND;
}

CUresult cuLaunchKernel(void* function, unsigned int gridX, unsigned int gridY, unsigned int gridZ, unsigned int blockX,
                        unsigned int blockY, unsigned int blockZ, unsigned int sharedBytes, void* stream, void** params,
                        void** extra) {
    ENTER("cuLaunchKernel");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    auto it = functions.find((Function*)function);
    if (it == functions.end()) return fail(s, INVALID_HANDLE);
    std::shared_ptr<Function> f = it->second;
    if (gridX == 0 || gridX > 0x7fffffffu || gridY == 0 || gridZ == 0 || blockX == 0 || blockY == 0 || blockZ == 0 ||
        blockX * blockY * blockZ > 1024 || sharedBytes > 48 * 1024)
        return fail(s, INVALID_VALUE);
    // The emulation runs one-dimensional launches (all the engine makes), with kernelParams.
    if (gridY != 1 || gridZ != 1 || blockY != 1 || blockZ != 1 || extra) return fail(s, NOT_SUPPORTED);
    if (!f->sizes.empty() && !params) return fail(s, INVALID_VALUE);
    std::vector<std::vector<uint64_t>> values;
    for (size_t i = 0; i < f->sizes.size(); i++) {
        if (!params[i]) return fail(s, INVALID_VALUE);
        std::vector<uint64_t> slot((f->sizes[i] + 7) / 8, 0);
        memcpy(slot.data(), params[i], f->sizes[i]);
        values.push_back(std::move(slot));
    }
    counters["launches"]++;
    return fail(s, enqueue(s, std::make_shared<std::function<void()>>([f, values, gridX, blockX] { runLaunch(f, values, gridX, blockX); })));
}

CUresult cuMemAlloc_v2(CUdeviceptr* pointer, size_t bytes) {
    ENTER("cuMemAlloc_v2");
    REQUIRE_CONTEXT();
    if (!pointer || bytes == 0) return INVALID_VALUE;
    if (bytes > kTotalBytes - deviceBytes) return OUT_OF_MEMORY;
    void* memory = nullptr;
    if (posix_memalign(&memory, 256, bytes) != 0) return OUT_OF_MEMORY;
    // NaN bytes: a kernel reading memory nobody wrote shows in its output.
    memset(memory, 0xFF, bytes);
    *pointer = CUdeviceptr(uintptr_t(memory));
    deviceMemory[*pointer] = bytes;
    deviceBytes += bytes;
    return SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
    ENTER("cuMemFree_v2");
    REQUIRE_CONTEXT();
    if (capturingStrictly()) return CAPTURE_UNSUPPORTED;
    auto it = deviceMemory.find(pointer);
    if (it == deviceMemory.end()) return INVALID_VALUE;
    // cuMemFree waits for the device: nothing queued before it still reads the memory.
    flushAll();
    deviceBytes -= it->second;
    deviceMemory.erase(it);
    free((void*)uintptr_t(pointer));
    return SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t* freeBytes, size_t* totalBytes) {
    ENTER("cuMemGetInfo_v2");
    REQUIRE_CONTEXT();
    if (!freeBytes || !totalBytes) return INVALID_VALUE;
    *freeBytes = kTotalBytes - deviceBytes;
    *totalBytes = kTotalBytes;
    return SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr destination, const void* source, size_t bytes, void* stream) {
    ENTER("cuMemcpyHtoDAsync_v2");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    if (bytes == 0) return SUCCESS;
    if (!source || !isDevice(destination, bytes)) return fail(s, INVALID_VALUE);
    Op op;
    if (isPinned(source, bytes)) {
        // DMA from page-locked memory when the stream gets there: it reads the buffer then.
        op = std::make_shared<std::function<void()>>([=] {
            if (!isDevice(destination, bytes)) return fault("cuMemcpyHtoDAsync_v2 into freed device memory");
            memcpy((void*)uintptr_t(destination), source, bytes);
        });
    } else {
        if (s && s->capturing) return fail(s, CAPTURE_UNSUPPORTED);
        // Pageable memory is staged before the call returns: the caller may reuse it at once.
        auto staged = std::make_shared<std::vector<unsigned char>>((const unsigned char*)source, (const unsigned char*)source + bytes);
        op = std::make_shared<std::function<void()>>([=] {
            if (!isDevice(destination, bytes)) return fault("cuMemcpyHtoDAsync_v2 into freed device memory");
            memcpy((void*)uintptr_t(destination), staged->data(), bytes);
        });
    }
    counters["copies"]++;
    return fail(s, enqueue(s, op));
}

CUresult cuMemcpyDtoHAsync_v2(void* destination, CUdeviceptr source, size_t bytes, void* stream) {
    ENTER("cuMemcpyDtoHAsync_v2");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    if (bytes == 0) return SUCCESS;
    if (!destination || !isDevice(source, bytes)) return fail(s, INVALID_VALUE);
    auto op = std::make_shared<std::function<void()>>([=] {
        if (!isDevice(source, bytes)) return fault("cuMemcpyDtoHAsync_v2 from freed device memory");
        memcpy(destination, (const void*)uintptr_t(source), bytes);
    });
    counters["copies"]++;
    if (isPinned(destination, bytes)) return fail(s, enqueue(s, op));
    if (s && s->capturing) return fail(s, CAPTURE_UNSUPPORTED);
    // Into pageable memory the driver waits for the stream and copies before returning.
    flush(s);
    if (sticky == SUCCESS) (*op)();
    return sticky;
}

CUresult cuMemHostAlloc(void** pointer, size_t bytes, unsigned int flags) {
    ENTER("cuMemHostAlloc");
    REQUIRE_CONTEXT();
    if (!pointer || bytes == 0 || (flags & ~0xFu)) return INVALID_VALUE;
    void* memory = nullptr;
    if (posix_memalign(&memory, 4096, bytes) != 0) return OUT_OF_MEMORY;
    memset(memory, 0xFF, bytes);
    pinnedMemory[uintptr_t(memory)] = bytes;
    *pointer = memory;
    return SUCCESS;
}

CUresult cuMemFreeHost(void* pointer) {
    ENTER("cuMemFreeHost");
    REQUIRE_CONTEXT();
    auto it = pinnedMemory.find(uintptr_t(pointer));
    if (it == pinnedMemory.end()) return INVALID_VALUE;
    // Like cuMemFree, waits for copies still queued from or into it.
    flushAll();
    pinnedMemory.erase(it);
    free(pointer);
    return SUCCESS;
}

CUresult cuEventCreate(void** event, unsigned int flags) {
    ENTER("cuEventCreate");
    REQUIRE_CONTEXT();
    if (!event || (flags & ~0xFu)) return INVALID_VALUE;
    auto e = std::make_shared<Event>();
    e->flags = flags;
    *event = e.get();
    events[e.get()] = e;
    return SUCCESS;
}

CUresult cuEventRecord(void* event, void* stream) {
    ENTER("cuEventRecord");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    auto it = events.find((Event*)event);
    if (it == events.end()) return fail(s, INVALID_HANDLE);
    std::shared_ptr<Event> e = it->second;
    e->recorded = true;
    e->complete = false;
    e->stream = s;
    return fail(s, enqueue(s, std::make_shared<std::function<void()>>([e] {
        e->milliseconds = now();
        e->complete = true;
    })));
}

CUresult cuEventSynchronize(void* event) {
    ENTER("cuEventSynchronize");
    REQUIRE_CONTEXT();
    auto it = events.find((Event*)event);
    if (it == events.end()) return INVALID_HANDLE;
    if (it->second->recorded) flush(it->second->stream);
    return sticky;
}

CUresult cuEventElapsedTime(float* milliseconds, void* start, void* end) {
    ENTER("cuEventElapsedTime");
    REQUIRE_CONTEXT();
    if (!milliseconds) return INVALID_VALUE;
    auto a = events.find((Event*)start), b = events.find((Event*)end);
    if (a == events.end() || b == events.end()) return INVALID_HANDLE;
    const Event &first = *a->second, &last = *b->second;
    if ((first.flags | last.flags) & 0x2 || !first.recorded || !last.recorded) return INVALID_HANDLE;
    if (!first.complete || !last.complete) return NOT_READY;
    *milliseconds = float(last.milliseconds - first.milliseconds);
    return SUCCESS;
}

// CUDA 12.8's name for it (cuda.h 13 binds cuEventElapsedTime to it); same arguments.
CUresult cuEventElapsedTime_v2(float* milliseconds, void* start, void* end) { return cuEventElapsedTime(milliseconds, start, end); }

CUresult cuEventDestroy_v2(void* event) {
    ENTER("cuEventDestroy_v2");
    REQUIRE_CONTEXT();
    // A record still queued keeps its event until it has run.
    return events.erase((Event*)event) ? SUCCESS : INVALID_HANDLE;
}

CUresult cuStreamBeginCapture_v2(void* stream, int mode) {
    ENTER("cuStreamBeginCapture_v2");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    if (!s) return CAPTURE_UNSUPPORTED;
    if (mode < 0 || mode > 2) return INVALID_VALUE;
    if (s->capturing) return ILLEGAL_STATE;
    s->capturing = true;
    s->invalidated = false;
    s->mode = mode;
    s->captureThread = std::this_thread::get_id();
    s->captured.clear();
    return SUCCESS;
}

CUresult cuStreamEndCapture(void* stream, void** graph) {
    ENTER("cuStreamEndCapture");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS || !s) return INVALID_HANDLE;
    if (!graph) return INVALID_VALUE;
    if (!s->capturing) return ILLEGAL_STATE;
    if (s->mode != kCaptureRelaxed && s->captureThread != std::this_thread::get_id()) return CAPTURE_WRONG_THREAD;
    s->capturing = false;
    std::vector<Op> ops;
    ops.swap(s->captured);
    if (s->invalidated) {
        *graph = nullptr;
        return CAPTURE_INVALIDATED;
    }
    auto g = std::make_unique<Graph>();
    g->ops = std::move(ops);
    *graph = g.get();
    graphs[g.get()] = std::move(g);
    return SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags) {
    ENTER("cuGraphInstantiateWithFlags");
    REQUIRE_CONTEXT();
    if (!exec || (flags & ~0xFull)) return INVALID_VALUE;
    auto it = graphs.find((Graph*)graph);
    if (it == graphs.end()) return INVALID_VALUE;
    // The executable is a snapshot: the graph may be destroyed and it still runs.
    auto e = std::make_unique<GraphExec>();
    e->ops = it->second->ops;
    *exec = e.get();
    execs[e.get()] = std::move(e);
    return SUCCESS;
}

CUresult cuGraphLaunch(void* exec, void* stream) {
    ENTER("cuGraphLaunch");
    REQUIRE_CONTEXT();
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    auto it = execs.find((GraphExec*)exec);
    if (it == execs.end()) return fail(s, INVALID_HANDLE);
    counters["graph_launches"]++;
    for (const Op& op : it->second->ops) {
        CUresult rc = enqueue(s, op);
        if (rc != SUCCESS) return fail(s, rc);
    }
    return SUCCESS;
}

CUresult cuGraphExecDestroy(void* exec) {
    ENTER("cuGraphExecDestroy");
    // Replays already queued keep their work alive until they have run.
    return execs.erase((GraphExec*)exec) ? SUCCESS : INVALID_HANDLE;
}

CUresult cuGraphDestroy(void* graph) {
    ENTER("cuGraphDestroy");
    return graphs.erase((Graph*)graph) ? SUCCESS : INVALID_HANDLE;
}

// MARK: for the fake cuBLAS

CUresult fvfake_submit(void* stream, void (*work)(void*), void* state, void (*release)(void*)) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    struct Payload {
        void (*work)(void*);
        void* state;
        void (*release)(void*);
        ~Payload() { if (release) release(state); }
    };
    std::shared_ptr<Payload> payload(new Payload{work, state, release});
    Stream* s;
    if (lookup(stream, s) != SUCCESS) return INVALID_HANDLE;
    return fail(s, enqueue(s, std::make_shared<std::function<void()>>([payload] { payload->work(payload->state); })));
}

int fvfake_device_range(uint64_t address, size_t bytes) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    return isDevice(address, bytes) ? 1 : 0;
}

int fvfake_context_current(void) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    return initialized && current && primary.retains > 0 ? 1 : 0;
}

void fvfake_fault(const char* message) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    fault(message);
}

void fvfake_count(const char* name, long delta) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    counters[name] += delta;
}

// MARK: for the tests

// Live objects by kind (device_allocations, device_bytes, pinned_allocations, streams,
// events, modules, functions, graphs, graph_execs, context_retains), else a counter
// (launches, kernels_run, copies, captured_ops, graph_launches, faults, and cuBLAS's).
long fvfake_stat(const char* name) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    std::string n = name;
    if (n == "device_allocations") return long(deviceMemory.size());
    if (n == "device_bytes") return long(deviceBytes);
    if (n == "pinned_allocations") return long(pinnedMemory.size());
    if (n == "streams") return long(streams.size());
    if (n == "events") return long(events.size());
    if (n == "modules") return long(modules.size());
    if (n == "functions") return long(functions.size());
    if (n == "graphs") return long(graphs.size());
    if (n == "graph_execs") return long(execs.size());
    if (n == "context_retains") return primary.retains;
    auto it = counters.find(n);
    return it == counters.end() ? 0 : it->second;
}

const char* fvfake_last_fault(void) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    static std::string copy;
    copy = lastFault;
    return copy.c_str();
}

// Clears a fault (the sticky error) so that later tests get a working context again.
void fvfake_clear_fault(void) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    sticky = SUCCESS;
    lastFault.clear();
}

void fvfake_set_driver_version(int version) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    driverVersion = version;
}

// After `skip` calls of `function` from now, the next `times` return `code` instead of
// doing anything.
void fvfake_inject(const char* function, int skip, int times, int code) {
    std::lock_guard<std::recursive_mutex> guard(mutex);
    injection.function = function ? function : "";
    injection.skip = skip;
    injection.times = times;
    injection.code = code;
}
}
