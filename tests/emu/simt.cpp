/* SIMT emulation runtime: fibers, barriers, warp collectives, shared-memory
 * shadow, cp.async groups and the tensor-core instructions, executed on the
 * CPU with the PTX ISA's semantics. See simt.h and docs/emulation.md. */
#include "simt.h"
#include "simt_ptx.h"
#include "simt_alloc.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

extern "C" {
#include "layout.h"
}

namespace {

const size_t kStackBytes = 256 * 1024;
const size_t kStaticSmemBytes = 48 * 1024;
const int kDeadlockRounds = 2000;

struct Copy {
    unsigned char *dst;
    unsigned char data[16];
    int bytes;
    long group; /* -1 until committed */
};

struct Warp {
    unsigned char slots[32 * TSR_SIMT_SLOT];
    int live = 0;
    int arrived = 0, released = 0;
    unsigned gen = 0, rel_gen = 0;
};

struct Block;

/* One wgmma.mma_async of this thread's warp, issued and not yet completed:
 * the warp's A gathered at issue, B read through the descriptor when a
 * wgmma.wait_group completes it (the latest the hardware may read it). */
struct Wgmma {
    float *d;
    int n, bf16, accumulate;
    uint32_t start;
    long group; /* -1 until committed */
    float A[16][16];
};

struct Fiber {
    ucontext_t ctx;
    void *stack = nullptr;
    tsr_simt_thread_view view;
    Block *block = nullptr;
    int lane = 0, warp = 0;
    bool done = false;
    size_t static_calls = 0;
    std::vector<Copy> copies;
    long next_group = 0;
    std::vector<Wgmma> wgmmas;
    long next_wgmma_group = 0;
    /* Vector clock over the block's threads: vc[t] is the latest clock of
     * thread t whose accesses this thread is ordered after (through
     * barriers); vc[own id] is this thread's clock, which each barrier
     * arrival advances. */
    std::vector<uint32_t> vc;
    bool griddep_waited = false; /* past griddepcontrol.wait (tsr_simt_griddep_wait) */
};

/* What the shadow knows of one byte of shared memory: whether anyone wrote it
 * since launch, who last wrote it and who last read it, at which of their
 * clocks (Fiber::vc) and warp epochs (the warp's collective count), and
 * whether a cp.async into it is still in flight. Threads are stored +1, so
 * that zero (calloc) means nobody. */
struct SmemCell {
    uint32_t w_clock, w_wgen, r_clock, r_wgen;
    uint16_t writer, reader, pending;
    uint8_t written, r_multi; /* r_multi: 0 one reader, 1 several of one warp, 2 of several warps */
};

/* One barrier of a block (__syncthreads, or a named barrier 1..15): arrivals
 * of the current instance, its participants' clocks joined so far, and the
 * join of the last completed instance, which its waiters take on waking. */
struct Barrier {
    int arrived = 0, count = 0; /* count: a named barrier's thread count, 0 while idle */
    unsigned gen = 0;
    std::vector<uint32_t> join, done;
};
const int kNamedBarriers = 16;

struct Block {
    unsigned char *smem = nullptr; /* dynamic part, then the static part */
    SmemCell *shadow = nullptr;
    size_t dyn_bytes = 0, static_used = 0, total = 0;
    std::vector<std::pair<size_t, size_t>> static_slots; /* offset, bytes */
    int live = 0;
    Barrier sync;                    /* __syncthreads: every live thread */
    Barrier named[kNamedBarriers];   /* bar.sync / bar.arrive 1..15 */
    std::vector<Warp> warps;
};

struct Launch {
    const char *name = nullptr;
    const std::function<void()> *body = nullptr;
    ucontext_t sched;
    Fiber *current = nullptr;
    unsigned long progress = 0;
    bool programmatic = false; /* launched with programmatic stream serialisation */
    /* the allocations this launch stored to; the last one found, as a range,
     * so that most stores skip the lookup */
    std::set<const void *> stored;
    uintptr_t stored_lo = 0, stored_hi = 0;
};

Launch *g_launch = nullptr;
/* The allocations the previous kernel on the stream stored to: what a
 * programmatic launch must not read before griddepcontrol.wait. */
std::set<const void *> g_prev_stored;
unsigned long long g_shuffle_rng = 0; /* nonzero while a shuffled launch runs (TSR_SIMT_SHUFFLE) */

/* A number below `bound` from the shuffled launch's generator. */
unsigned long shuffle_rand(unsigned long bound)
{
    g_shuffle_rng = g_shuffle_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned long)((g_shuffle_rng >> 33) % bound);
}
int g_record = 0;
int g_fault_count = 0;
std::string g_first_fault;

Fiber *self()
{
    if (!g_launch || !g_launch->current) {
        fprintf(stderr, "simt: a device-side call was made outside an emulated kernel\n");
        abort();
    }
    return g_launch->current;
}

void yield_to_scheduler()
{
    Fiber *f = self();
    swapcontext(&f->ctx, &g_launch->sched);
}

enum SmemWrite { kStore, kAsyncIssue, kAsyncDone };

/* Barrier arrival: the thread's clock joins the instance's (release), and
 * its later accesses get a new clock. Completion publishes the join; a
 * waiter takes it on waking (acquire). */
void arrive_barrier(Barrier &bar, Fiber *f)
{
    if (bar.join.size() < f->vc.size()) bar.join.resize(f->vc.size(), 0);
    for (size_t i = 0; i < f->vc.size(); i++)
        if (f->vc[i] > bar.join[i]) bar.join[i] = f->vc[i];
    f->vc[(size_t)(f->warp * 32 + f->lane)]++; /* the thread's own clock */
    bar.arrived++;
}
void complete_barrier(Barrier &bar)
{
    bar.done.swap(bar.join);
    bar.join.assign(bar.done.size(), 0);
    bar.arrived = 0;
    bar.count = 0;
    bar.gen++;
    g_launch->progress++;
}
void acquire_barrier(const Barrier &bar, Fiber *f)
{
    for (size_t i = 0; i < f->vc.size() && i < bar.done.size(); i++)
        if (bar.done[i] > f->vc[i]) f->vc[i] = bar.done[i];
}
void smem_write(const void *p, size_t bytes, SmemWrite kind);

void complete_copy(const Copy &c)
{
    memcpy(c.dst, c.data, (size_t)c.bytes);
    smem_write(c.dst, (size_t)c.bytes, kAsyncDone);
}

void drain_copies(Fiber *f)
{
    for (const Copy &c : f->copies) complete_copy(c);
    f->copies.clear();
}

void fiber_main()
{
    Fiber *f = g_launch->current;
    (*g_launch->body)();
    if (!f->wgmmas.empty()) tsr_simt_fault("the thread ended with %zu wgmma in flight (no wgmma.wait_group 0)", f->wgmmas.size());
    drain_copies(f);
    f->done = true;
    Block *b = f->block;
    b->live--;
    Warp &w = b->warps[(size_t)f->warp];
    w.live--;
    /* A thread that exits no longer counts towards barriers it never reaches. */
    if (b->sync.arrived > 0 && b->sync.arrived == b->live) complete_barrier(b->sync);
    if (w.arrived > 0 && w.arrived == w.live) { w.arrived = 0; w.gen++; }
    if (w.released > 0 && w.released == w.live) { w.released = 0; w.rel_gen++; }
    g_launch->progress++;
    swapcontext(&f->ctx, &g_launch->sched);
}

/* The emulated device's resident-block count: its SM count unless overridden. */
unsigned resident_blocks()
{
    const char *e = getenv("TSR_SIMT_RESIDENT");
    if (e && atoi(e) > 0) return (unsigned)atoi(e);
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    return sms > 0 ? (unsigned)sms : 4u;
}

void segv_handler(int sig, siginfo_t *si, void *)
{
    char msg[512];
    int n;
    if (g_launch && g_launch->current) {
        const tsr_simt_thread_view &v = g_launch->current->view;
        n = snprintf(msg, sizeof msg,
                     "simt: kernel %s block (%u,%u,%u) thread (%u,%u,%u): invalid memory access at %p "
                     "(signal %d; outside every emulated allocation, or into a guard page)\n",
                     g_launch->name, v.block_idx.x, v.block_idx.y, v.block_idx.z, v.thread_idx.x,
                     v.thread_idx.y, v.thread_idx.z, si->si_addr, sig);
    } else {
        n = snprintf(msg, sizeof msg, "simt: invalid memory access at %p outside any kernel (signal %d)\n",
                     si->si_addr, sig);
    }
    if (n > 0) (void)!write(2, msg, (size_t)n);
    _exit(134);
}

void install_segv_handler()
{
    /* Installed at every launch: test frameworks (cmocka) install their own. */
    static char altstack[64 * 1024];
    stack_t ss;
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    ss.ss_flags = 0;
    sigaltstack(&ss, nullptr);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
}

/* getcontext returns twice: kept out of the launch loop so that the loop's
 * locals are not at risk of being clobbered. */
/* Fiber stacks are kept for the next launch: mapping and unmapping thousands
 * of them per launch dominated the emulated tests' run time. */
std::vector<void *> g_stack_pool;

void *take_stack()
{
    if (!g_stack_pool.empty()) {
        void *s = g_stack_pool.back();
        g_stack_pool.pop_back();
        return s;
    }
    void *s = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED) {
        fprintf(stderr, "simt: cannot map a fiber stack\n");
        abort();
    }
    mprotect(s, 4096, PROT_NONE); /* stack overflow lands in the guard page */
    return s;
}

void init_fiber_context(Fiber &f)
{
    f.stack = take_stack();
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
}

} // namespace

/* ------------------------------------------------------------------------ */
void tsr_simt_set_record_faults(int on) { g_record = on; }

int tsr_simt_take_faults(char *first, size_t cap)
{
    int n = g_fault_count;
    if (first && cap) snprintf(first, cap, "%s", g_first_fault.c_str());
    g_fault_count = 0;
    g_first_fault.clear();
    return n;
}

void tsr_simt_fault(const char *fmt, ...)
{
    char body[512], msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (g_launch && g_launch->current) {
        const tsr_simt_thread_view &v = g_launch->current->view;
        snprintf(msg, sizeof msg, "simt: kernel %s block (%u,%u,%u) thread (%u,%u,%u): %s", g_launch->name,
                 v.block_idx.x, v.block_idx.y, v.block_idx.z, v.thread_idx.x, v.thread_idx.y, v.thread_idx.z, body);
    } else {
        snprintf(msg, sizeof msg, "simt: %s", body);
    }
    if (g_record) {
        if (g_fault_count++ == 0) g_first_fault = msg;
        return;
    }
    fprintf(stderr, "%s\n", msg);
    abort();
}

const tsr_simt_thread_view *tsr_simt_view(void) { return &self()->view; }
int tsr_simt_lane(void) { return self()->lane; }

void *tsr_simt_dynamic_smem(void) { return self()->block->smem; }

void *tsr_simt_static_smem(size_t bytes, size_t align)
{
    Fiber *f = self();
    Block *b = f->block;
    size_t k = f->static_calls++;
    if (k < b->static_slots.size()) {
        if (b->static_slots[k].second != bytes)
            tsr_simt_fault("static shared declaration #%zu has %zu bytes here but %zu in another thread", k, bytes,
                           b->static_slots[k].second);
        return b->smem + b->static_slots[k].first;
    }
    size_t off = (b->dyn_bytes + b->static_used + align - 1) / align * align;
    if (off + bytes > b->total) {
        tsr_simt_fault("static shared memory exceeds %zu bytes", kStaticSmemBytes);
        return b->smem;
    }
    b->static_used = off + bytes - b->dyn_bytes;
    b->static_slots.push_back({off, bytes});
    return b->smem + off;
}

static bool in_smem(const Block *b, const void *p, size_t bytes)
{
    const unsigned char *c = (const unsigned char *)p;
    return c >= b->smem && c + bytes <= b->smem + b->total;
}

/* ---- shared-memory race detection ---------------------------------------
 * Two accesses of one byte by different threads, at least one a write, not
 * ordered by a barrier (__syncthreads, or a named barrier the second thread
 * waited at after the first arrived) and, within a warp, not separated by a
 * warp collective, race on the hardware whatever order the emulation ran
 * them in. Ordering is a vector clock per thread (Fiber::vc), so that named
 * barriers between some warps (a producer warp and its consumers) order
 * exactly what they order. A cell remembers its last writer and last reader:
 * of several readers not ordered with each other, a write is checked against
 * the last one only (exact under __syncthreads, where an ordered last reader
 * implies ordered earlier ones; a sample under named barriers). A cp.async
 * counts as a write from its issue (the copy may land any time until
 * wait_group). */
namespace {
int thread_id(const Fiber *f) { return f->warp * 32 + f->lane; }

/* Whether this thread's access races with an earlier one by thread `t` at
 * its clock `clock` and warp epoch `wgen`; `several_warps`: threads of more
 * than one warp made it (t is the last); `only_me`: it was this thread's own. */
bool races(const Fiber *f, bool only_me, int t, bool several_warps, uint32_t clock, uint32_t wgen)
{
    if (only_me || f->vc[(size_t)t] >= clock) return false;
    if (several_warps || t / 32 != f->warp) return true;
    return wgen == f->block->warps[(size_t)f->warp].gen;
}
bool races_with_writer(const Fiber *f, const SmemCell &c)
{
    return c.writer && races(f, c.writer - 1 == thread_id(f), c.writer - 1, false, c.w_clock, c.w_wgen);
}
bool races_with_readers(const Fiber *f, const SmemCell &c)
{
    return c.reader && races(f, c.reader - 1 == thread_id(f) && !c.r_multi, c.reader - 1, c.r_multi == 2, c.r_clock,
                             c.r_wgen);
}

void smem_write(const void *p, size_t bytes, SmemWrite kind)
{
    Fiber *f = self();
    Block *b = f->block;
    const int me = thread_id(f);
    const uint32_t wgen = b->warps[(size_t)f->warp].gen;
    size_t off = (size_t)((const unsigned char *)p - b->smem);
    for (size_t i = 0; i < bytes; i++) {
        SmemCell &c = b->shadow[off + i];
        if (kind == kAsyncDone) { /* checked at issue; now it has landed */
            c.written = 1;
            c.pending = 0;
            c.writer = (uint16_t)(me + 1);
            c.w_clock = f->vc[(size_t)me];
            c.w_wgen = wgen;
            continue;
        }
        if (races_with_writer(f, c)) {
            tsr_simt_fault("shared-memory race: writes byte offset %zu, which thread %d wrote since the last barrier",
                           off + i, c.writer - 1);
            return;
        }
        if (races_with_readers(f, c)) {
            tsr_simt_fault("shared-memory race: writes byte offset %zu, which thread %d%s read since the last barrier",
                           off + i, c.reader - 1, c.r_multi ? " (and others)" : "");
            return;
        }
        c.writer = (uint16_t)(me + 1);
        c.w_clock = f->vc[(size_t)me];
        c.w_wgen = wgen;
        if (kind == kAsyncIssue) c.pending = (uint16_t)(me + 1);
        else c.written = 1;
    }
}
} // namespace

int tsr_simt_smem_mark(const void *p, size_t bytes)
{
    Block *b = self()->block;
    if (!in_smem(b, p, bytes)) {
        tsr_simt_fault("shared store of %zu bytes at %p is outside the block's %zu bytes of shared memory", bytes, p,
                       b->total);
        return 0;
    }
    smem_write(p, bytes, kStore);
    return 1;
}

int tsr_simt_smem_check(const void *p, size_t bytes, const char *what)
{
    Fiber *f = self();
    Block *b = f->block;
    if (!in_smem(b, p, bytes)) {
        tsr_simt_fault("%s: shared access of %zu bytes at %p is outside the block's %zu bytes of shared memory", what,
                       bytes, p, b->total);
        return 0;
    }
    const int me = thread_id(f);
    const uint32_t wgen = b->warps[(size_t)f->warp].gen;
    size_t off = (size_t)((const unsigned char *)p - b->smem);
    for (size_t i = 0; i < bytes; i++) {
        SmemCell &c = b->shadow[off + i];
        if (c.pending) {
            tsr_simt_fault("%s: reads shared byte offset %zu while thread %d's cp.async into it is in flight (no "
                           "wait_group and barrier before the read)", what, off + i, c.pending - 1);
            return 1;
        }
        if (!c.written) {
            tsr_simt_fault("%s: reads shared byte offset %zu, which no thread of the block has written", what, off + i);
            return 1; /* in range: the read itself is harmless, its value is poison */
        }
        if (races_with_writer(f, c)) {
            tsr_simt_fault("%s: shared-memory race: reads byte offset %zu, which thread %d wrote since the last barrier",
                           what, off + i, c.writer - 1);
            return 1;
        }
        /* the last read is this one; readers not ordered before it make the
         * cell several threads' (of one warp, or of several) */
        if (!c.reader || f->vc[(size_t)(c.reader - 1)] >= c.r_clock) c.r_multi = 0;
        else if (c.reader - 1 != me) c.r_multi = (uint8_t)((c.reader - 1) / 32 == f->warp && c.r_multi < 2 ? 1 : 2);
        c.reader = (uint16_t)(me + 1);
        c.r_clock = f->vc[(size_t)me];
        c.r_wgen = wgen;
    }
    return 1;
}

/* Bounds: [p, p+bytes) inside one emulated allocation. */
static int global_in_bounds(const void *p, size_t bytes, const char *what)
{
    /* shuffled scheduling also preempts a thread at random global accesses,
     * so that other threads and blocks run between its loads and stores */
    if (g_shuffle_rng && g_launch && g_launch->current && shuffle_rand(3) == 0) yield_to_scheduler();
    if (tsr_simt_alloc_contains(p, bytes)) return 1;
    tsr_simt_fault("%s: global access of %zu bytes at %p is outside every emulated allocation", what, bytes, p);
    return 0;
}

/* Before its griddepcontrol.wait, a thread of a programmatic launch runs
 * beside the kernel before it: no stores, no reads of what that one stored. */
static void check_griddep(const void *p, bool store, const char *what)
{
    Fiber *f = self();
    if (!g_launch->programmatic || f->griddep_waited) return;
    if (store) {
        tsr_simt_fault("%s: global store at %p before griddepcontrol.wait in a programmatic launch (the kernel before it "
                       "on the stream may still be reading or writing there)", what, p);
        return;
    }
    size_t bytes = 0;
    const void *base = tsr_simt_alloc_base(p, &bytes);
    if (base && g_prev_stored.count(base))
        tsr_simt_fault("%s: reads %p before griddepcontrol.wait in a programmatic launch, in an allocation the kernel "
                       "before it on the stream stored to (it may not have written it yet)", what, p);
}

int tsr_simt_global_check(const void *p, size_t bytes, const char *what)
{
    if (!global_in_bounds(p, bytes, what)) return 0;
    check_griddep(p, false, what);
    return 1;
}

int tsr_simt_global_store_check(const void *p, size_t bytes, const char *what)
{
    if (!global_in_bounds(p, bytes, what)) return 0;
    check_griddep(p, true, what);
    Launch &L = *g_launch;
    const uintptr_t a = (uintptr_t)p;
    if (a < L.stored_lo || a >= L.stored_hi) {
        size_t size = 0;
        const void *base = tsr_simt_alloc_base(p, &size);
        L.stored.insert(base);
        L.stored_lo = (uintptr_t)base;
        L.stored_hi = L.stored_lo + size;
    }
    return 1;
}

void tsr_simt_griddep_wait(void) { self()->griddep_waited = true; }

void tsr_simt_griddep_launch_dependents(void)
{
    if (g_launch->programmatic && !self()->griddep_waited)
        tsr_simt_fault("griddepcontrol.launch_dependents before griddepcontrol.wait in a programmatic launch: the next "
                       "kernel could start beside the one before this");
}

void tsr_simt_note_stream_store(const void *p)
{
    size_t size = 0;
    const void *base = tsr_simt_alloc_base(p, &size);
    g_prev_stored.clear();
    if (base) g_prev_stored.insert(base);
}

void tsr_simt_end_overlap(void) { g_prev_stored.clear(); }

int tsr_simt_generic_check(const void *p, size_t bytes, const char *what)
{
    if (in_smem(self()->block, p, 1)) return tsr_simt_smem_check(p, bytes, what);
    return tsr_simt_global_check(p, bytes, what);
}

void tsr_simt_yield(void) { yield_to_scheduler(); }

void tsr_simt_syncthreads(void)
{
    Fiber *f = self();
    Block *b = f->block;
    unsigned my = b->sync.gen;
    arrive_barrier(b->sync, f);
    if (b->sync.arrived == b->live) complete_barrier(b->sync);
    while (b->sync.gen == my) yield_to_scheduler();
    acquire_barrier(b->sync, f);
}

/* bar.sync / bar.arrive id, count: the instance completes when `count`
 * threads (a multiple of 32) have arrived; bar.sync waits for that and is
 * then ordered after every arrival's earlier accesses, bar.arrive does not
 * wait (a producer signalling its consumers). */
static void named_barrier(int id, int count, bool wait)
{
    Fiber *f = self();
    Block *b = f->block;
    const char *what = wait ? "bar.sync" : "bar.arrive";
    if (id < 1 || id >= kNamedBarriers) {
        tsr_simt_fault("%s %d: a named barrier's id is 1..%d (0 is __syncthreads')", what, id, kNamedBarriers - 1);
        return;
    }
    if (count <= 0 || count % 32 || count > (int)f->vc.size()) {
        tsr_simt_fault("%s %d, %d: the count must be a positive multiple of 32 no larger than the block's %zu threads",
                       what, id, count, f->vc.size());
        return;
    }
    Barrier &bar = b->named[id];
    if (bar.count && bar.count != count) {
        tsr_simt_fault("%s %d, %d: other threads arrived at this instance with count %d", what, id, count, bar.count);
        return;
    }
    bar.count = count;
    unsigned my = bar.gen;
    arrive_barrier(bar, f);
    if (bar.arrived == count) complete_barrier(bar);
    if (!wait) return;
    while (bar.gen == my) yield_to_scheduler();
    if (bar.gen != my + 1) tsr_simt_fault("bar.sync %d: the barrier completed again before this thread woke", id);
    acquire_barrier(bar, f);
}
void tsr_simt_bar_sync(int id, int count) { named_barrier(id, count, true); }
void tsr_simt_bar_arrive(int id, int count) { named_barrier(id, count, false); }

const unsigned char *tsr_simt_warp_gather(const void *mine, size_t bytes)
{
    Fiber *f = self();
    Warp &w = f->block->warps[(size_t)f->warp];
    if (bytes) memcpy(w.slots + (size_t)f->lane * TSR_SIMT_SLOT, mine, bytes);
    unsigned my = w.gen;
    if (++w.arrived == w.live) {
        w.arrived = 0;
        w.gen++;
        g_launch->progress++;
    } else {
        while (w.gen == my) yield_to_scheduler();
    }
    return w.slots;
}

void tsr_simt_warp_release(void)
{
    Fiber *f = self();
    Warp &w = f->block->warps[(size_t)f->warp];
    unsigned my = w.rel_gen;
    if (++w.released == w.live) {
        w.released = 0;
        w.rel_gen++;
        g_launch->progress++;
        return;
    }
    while (w.rel_gen == my) yield_to_scheduler();
}

void tsr_simt_syncwarp(void)
{
    tsr_simt_warp_gather(nullptr, 0);
    tsr_simt_warp_release();
}

unsigned tsr_simt_ballot(unsigned mask, int pred)
{
    int p = pred != 0;
    const unsigned char *s = tsr_simt_warp_gather(&p, sizeof p);
    unsigned r = 0;
    for (int l = 0; l < 32; l++) {
        int v;
        memcpy(&v, s + (size_t)l * TSR_SIMT_SLOT, sizeof v);
        if (v) r |= 1u << l;
    }
    tsr_simt_warp_release();
    return r & mask;
}

/* ---- cp.async ------------------------------------------------------------ */
void tsr_simt_cp_async(void *dst, const void *src, int cp_bytes, int src_bytes)
{
    Fiber *f = self();
    if (cp_bytes != 4 && cp_bytes != 8 && cp_bytes != 16) tsr_simt_fault("cp.async size %d is not 4, 8 or 16", cp_bytes);
    if ((uintptr_t)dst % (uintptr_t)cp_bytes || (uintptr_t)src % (uintptr_t)cp_bytes)
        tsr_simt_fault("cp.async of %d bytes: dst %p or src %p is misaligned", cp_bytes, dst, src);
    if (!in_smem(f->block, dst, (size_t)cp_bytes)) {
        tsr_simt_fault("cp.async destination %p is outside shared memory", dst);
        return;
    }
    if (src_bytes < 0 || src_bytes > cp_bytes) tsr_simt_fault("cp.async src-size %d out of [0,%d]", src_bytes, cp_bytes);
    smem_write(dst, (size_t)cp_bytes, kAsyncIssue);
    Copy c;
    c.dst = (unsigned char *)dst;
    c.bytes = cp_bytes;
    c.group = -1;
    memset(c.data, 0, sizeof c.data); /* the zero-fill of bytes past src-size */
    if (src_bytes > 0) {
        /* A partial copy counts as a read of all cp_bytes: compute-sanitizer
         * on an H100 (run 13) reported the staged DF11 decoder's src-size-12
         * copy at a stream's end as a 16-byte read past the allocation and
         * stopped the kernel. src-size 0 reads nothing (and is not reported). */
        tsr_simt_global_check(src, (size_t)cp_bytes, "cp.async source (a partial copy counts as cp-size)");
        if (tsr_simt_alloc_contains(src, (size_t)src_bytes)) memcpy(c.data, src, (size_t)src_bytes);
    }
    f->copies.push_back(c);
}

/* Asynchronous operations in commit groups (cp.async, wgmma): a commit tags
 * the operations issued since the last one with the next group number; a wait
 * completes, in issue order, those of every committed group but the n most
 * recent. Operations not yet committed stay in flight, as on the hardware. */
template <typename Op> static void commit_group(std::vector<Op> &ops, long *next)
{
    for (Op &o : ops)
        if (o.group < 0) o.group = *next;
    (*next)++;
}

template <typename Op, typename Complete> static void wait_groups(std::vector<Op> &ops, long next, int n, Complete complete)
{
    const long keep_from = next - n;
    std::vector<Op> rest;
    for (const Op &o : ops) {
        if (o.group >= 0 && o.group < keep_from) complete(o);
        else rest.push_back(o);
    }
    ops.swap(rest);
}

void tsr_simt_cp_async_commit(void)
{
    Fiber *f = self();
    commit_group(f->copies, &f->next_group);
}

void tsr_simt_cp_async_wait(int n)
{
    Fiber *f = self();
    wait_groups(f->copies, f->next_group, n, complete_copy);
}

/* ---- ldmatrix ------------------------------------------------------------ */
void tsr_simt_ldmatrix(uint32_t *regs, int count, int trans, const void *row_addr)
{
    Fiber *f = self();
    static const unsigned char zeros[16] = {0};
    if (f->lane < 8 * count) {
        if ((uintptr_t)row_addr % 16) tsr_simt_fault("ldmatrix row address %p is not 16-byte aligned", row_addr);
        if (!tsr_simt_smem_check(row_addr, 16, "ldmatrix")) row_addr = zeros; /* recorded; do not read it */
    }
    const unsigned char *s = tsr_simt_warp_gather(&row_addr, sizeof row_addr);
    for (int j = 0; j < count; j++) {
        uint16_t h[2];
        for (int e = 0; e < 2; e++) {
            int r, c;
            tsr_frag_ldmatrix(f->lane, e, trans, &r, &c);
            const unsigned char *row;
            memcpy(&row, s + (size_t)(8 * j + r) * TSR_SIMT_SLOT, sizeof row);
            memcpy(&h[e], row + 2 * c, 2);
        }
        regs[j] = (uint32_t)h[0] | ((uint32_t)h[1] << 16);
    }
    tsr_simt_warp_release();
}

/* ---- mma ------------------------------------------------------------------ */
float tsr_simt_b16_to_float(uint16_t v, int bf16)
{
    if (bf16) {
        uint32_t u = (uint32_t)v << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    __half_raw r;
    r.x = v;
    return __half2float(__half(r));
}

namespace {
struct MmaSlot {
    uint32_t a[4], b[4], meta;
};

uint16_t reg_half(uint32_t r, int hi) { return (uint16_t)(hi ? r >> 16 : r & 0xffff); }
} // namespace

/* Each lane gathers the warp's registers, rebuilds A (16xK) and B (Kx8) with the
 * layout functions, and computes its own four outputs in fp32 in k order. */
static void mma_common(float d[4], const uint32_t a[4], const uint32_t *b, int nb, const float c[4], uint32_t meta,
                       int sparse, int selector, int bf16)
{
    Fiber *f = self();
    MmaSlot mine;
    memset(&mine, 0, sizeof mine);
    memcpy(mine.a, a, sizeof mine.a);
    memcpy(mine.b, b, (size_t)nb * 4);
    mine.meta = meta;
    const unsigned char *s = tsr_simt_warp_gather(&mine, sizeof mine);
    const MmaSlot *slot[32];
    for (int l = 0; l < 32; l++) slot[l] = (const MmaSlot *)(s + (size_t)l * TSR_SIMT_SLOT);

    const int K = sparse ? 32 : 16;
    float A[16][32], B[32][8];
    memset(A, 0, sizeof A);
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 2 * nb; i++) {
            int r, cc;
            if (sparse) tsr_frag_sp_m16n8k32_b(l, i, &r, &cc);
            else tsr_frag_m16n8k16_b(l, i, &r, &cc);
            B[r][cc] = tsr_simt_b16_to_float(reg_half(slot[l]->b[i / 2], i & 1), bf16);
        }
    if (!sparse) {
        for (int l = 0; l < 32; l++)
            for (int i = 0; i < 8; i++) {
                int r, cc;
                tsr_frag_m16n8k16_a(l, i, &r, &cc);
                A[r][cc] = tsr_simt_b16_to_float(reg_half(slot[l]->a[i / 2], i & 1), bf16);
            }
    } else {
        /* Kept values by (row, kept column), then metadata places them. */
        float kept[16][16];
        for (int l = 0; l < 32; l++)
            for (int i = 0; i < 8; i++) {
                int r, kc;
                tsr_frag_sp_m16n8k32_a(l, i, &r, &kc);
                kept[r][kc] = tsr_simt_b16_to_float(reg_half(slot[l]->a[i / 2], i & 1), bf16);
            }
        for (int l = 0; l < 32; l++)
            for (int nib = 0; nib < 8; nib++) {
                int r, chunk;
                if (!tsr_frag_sp_m16n8k32_meta(l, selector, nib, &r, &chunk)) continue;
                unsigned m = (slot[l]->meta >> (4 * nib)) & 0xf;
                unsigned i0 = m & 3, i1 = m >> 2;
                if (i0 == i1) {
                    tsr_simt_fault("mma.sp metadata 0x%x (row %d, chunk %d, lane %d) is one of the undefined codes 0b0000/0b0101/0b1010/0b1111",
                                   m, r, chunk, l);
                    continue;
                }
                A[r][4 * chunk + (int)i0] += kept[r][2 * chunk];
                A[r][4 * chunk + (int)i1] += kept[r][2 * chunk + 1];
            }
    }
    for (int i = 0; i < 4; i++) {
        int r, cc;
        tsr_frag_m16n8k16_c(f->lane, i, &r, &cc);
        float acc = c[i];
        for (int k = 0; k < K; k++) acc += A[r][k] * B[k][cc];
        d[i] = acc;
    }
    tsr_simt_warp_release();
}

void tsr_simt_mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4], int bf16)
{
    mma_common(d, a, b, 2, c, 0, 0, 0, bf16);
}

void tsr_simt_mma_sp_m16n8k32(float d[4], const uint32_t a[4], const uint32_t b[4], const float c[4], uint32_t meta,
                              int selector, int bf16)
{
    if (selector < 0 || selector > 1) tsr_simt_fault("mma.sp m16n8k32 sparsity selector %d is not 0 or 1", selector);
    mma_common(d, a, b, 4, c, meta, 1, selector, bf16);
}

/* ---- wgmma ------------------------------------------------------------------
 * Warp w of a warpgroup computes rows 16w..16w+15 of D from its own A rows and
 * the shared B, so each warp is emulated on its own: gather the warp's A
 * registers, read B through the descriptor as the hardware addresses it, and
 * each lane adds its N/2 outputs in fp32 in k order. The MMA is computed when
 * a wgmma.wait_group retires it, the latest the hardware may do it: D read
 * before that wait holds stale values, and B rewritten before it is read as
 * rewritten (the suites' results then differ from the reference) or reported
 * as a race by the shadow. */
uint32_t tsr_simt_smem_u32(const void *p)
{
    Block *b = self()->block;
    if (!in_smem(b, p, 1)) tsr_simt_fault("shared-window address of %p, which is outside shared memory", p);
    return (uint32_t)((const unsigned char *)p - b->smem);
}

void tsr_simt_wgmma_m64k16_rs(float *d, int n, const uint32_t a[4], uint64_t desc, int bf16, int accumulate)
{
    Fiber *f = self();
    if (n % 8 || n < 8 || n > 256) tsr_simt_fault("wgmma m64n%dk16: n must be a multiple of 8 in 8..256", n);
    const uint32_t start = (uint32_t)(desc & 0x3fff) << 4, sbo = (uint32_t)((desc >> 32) & 0x3fff) << 4;
    const unsigned mode = (unsigned)(desc >> 62), base_offset = (unsigned)((desc >> 49) & 7);
    if (mode != 1 || base_offset != 0 || sbo != 1024)
        tsr_simt_fault("wgmma descriptor 0x%016llx: the emulation knows K-major 128-byte swizzle with stride 1024 and base "
                       "offset 0 only (mode %u, stride %u, base offset %u)", (unsigned long long)desc, mode, sbo, base_offset);
    if ((start & 15) || ((start & 1023) >> 7)) /* the k16 step moves the start within the first row of an atom */
        tsr_simt_fault("wgmma descriptor start 0x%x must lie in the first 128 bytes of a 1024-byte atom", start);
    Wgmma w;
    w.d = d;
    w.n = n;
    w.bf16 = bf16;
    w.accumulate = accumulate;
    w.start = start;
    w.group = -1;
    const unsigned char *s = tsr_simt_warp_gather(a, 16);
    for (int l = 0; l < 32; l++) {
        const uint32_t *ra = (const uint32_t *)(s + (size_t)l * TSR_SIMT_SLOT);
        for (int i = 0; i < 8; i++) {
            int r, c;
            tsr_frag_m16n8k16_a(l, i, &r, &c);
            w.A[r][c] = tsr_simt_b16_to_float(reg_half(ra[i / 2], i & 1), bf16);
        }
    }
    tsr_simt_warp_release();
    f->wgmmas.push_back(w);
}

/* B[k][col]: row col of the K-major operand, 2 bytes at k; the swizzle XORs
 * address bits 4..6 with bits 7..9 (the row within its atom). Each lane adds
 * its N/2 outputs in fp32 in k order, onto d or (scale-d 0) onto zero. */
static void complete_wgmma(Fiber *f, const Wgmma &w)
{
    Block *blk = f->block;
    const int t = f->lane % 4, g = f->lane / 4;
    for (int j = 0; j < w.n / 8; j++)
        for (int e = 0; e < 4; e++) {
            const int row = g + 8 * (e >> 1), col = 8 * j + 2 * t + (e & 1);
            float acc = w.accumulate ? w.d[4 * j + e] : 0.f;
            for (int k = 0; k < 16; k++) {
                uint32_t addr = w.start + (uint32_t)(col / 8) * 1024 + (uint32_t)(col % 8) * 128 + (uint32_t)k * 2;
                addr ^= ((addr >> 7) & 7) << 4;
                const unsigned char *p = blk->smem + addr;
                uint16_t v = 0;
                if (tsr_simt_smem_check(p, 2, "wgmma B")) memcpy(&v, p, 2);
                acc += w.A[row][k] * tsr_simt_b16_to_float(v, w.bf16);
            }
            w.d[4 * j + e] = acc;
        }
}

void tsr_simt_wgmma_commit(void)
{
    Fiber *f = self();
    commit_group(f->wgmmas, &f->next_wgmma_group);
}

void tsr_simt_wgmma_wait(int n)
{
    Fiber *f = self();
    for (const Wgmma &w : f->wgmmas)
        if (w.group < 0) tsr_simt_fault("wgmma.wait_group with a wgmma not yet committed (wgmma.commit_group first)");
    wait_groups(f->wgmmas, f->next_wgmma_group, n, [f](const Wgmma &w) { complete_wgmma(f, w); });
}

/* ---- lop3 / prmt: pure functions, the same on every lane ------------------ */
uint32_t tsr_simt_lop3(uint32_t a, uint32_t b, uint32_t c, unsigned lut)
{
    uint32_t r = 0;
    for (int bit = 0; bit < 32; bit++) {
        unsigned idx = (((a >> bit) & 1u) << 2) | (((b >> bit) & 1u) << 1) | ((c >> bit) & 1u);
        /* immLut is indexed by (a,b,c) as the PTX ISA's 0xF0/0xCC/0xAA constants define. */
        r |= ((lut >> idx) & 1u) << bit;
    }
    return r;
}

uint32_t tsr_simt_prmt(uint32_t a, uint32_t b, uint32_t sel)
{
    uint64_t bytes = ((uint64_t)b << 32) | a;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) {
        unsigned s = (sel >> (4 * i)) & 0xf;
        unsigned v = (unsigned)(bytes >> (8 * (s & 7))) & 0xff;
        if (s & 8) v = (v & 0x80) ? 0xff : 0x00; /* sign-replicate mode bit */
        r |= v << (8 * i);
    }
    return r;
}

/* ---- launching ------------------------------------------------------------ */
cudaError_t tsr_simt_run(const char *name, dim3 grid, dim3 block, size_t dyn_smem, const std::function<void()> &body)
{
    return tsr_simt_run_ex(name, grid, block, dyn_smem, 0, body);
}

cudaError_t tsr_simt_run_ex(const char *name, dim3 grid, dim3 block, size_t dyn_smem, int programmatic,
                            const std::function<void()> &body)
{
    unsigned nthreads = block.x * block.y * block.z;
    unsigned long nblocks = (unsigned long)grid.x * grid.y * grid.z;
    if (nthreads == 0 || nthreads > 1024 || nblocks == 0 || grid.y > 65535 || grid.z > 65535)
        return cudaErrorInvalidConfiguration;
    if (tsr_simt_capturing()) {
        std::function<void()> later = body;
        tsr_simt_capture_add([=] { (void)tsr_simt_run_ex(name, grid, block, dyn_smem, programmatic, later); });
        return cudaSuccess;
    }
    if (g_launch) {
        fprintf(stderr, "simt: kernel %s launched from inside kernel %s\n", name, g_launch->name);
        abort();
    }
    install_segv_handler();
    Launch L;
    L.name = name;
    L.body = &body;
    L.programmatic = programmatic != 0;
    g_launch = &L;
    unsigned resident = resident_blocks();
    unsigned nwarps = (nthreads + 31) / 32;
    /* TSR_SIMT_SHUFFLE=<seed>: blocks start in a random order and each
     * scheduling round visits the threads in a random order, as a GPU may; a
     * result that depends on which block or thread comes first shows up as a
     * difference between runs */
    static unsigned long launches = 0;
    const char *shuffle_env = getenv("TSR_SIMT_SHUFFLE");
    g_shuffle_rng = shuffle_env ? strtoull(shuffle_env, nullptr, 0) : 0;
    if (g_shuffle_rng) g_shuffle_rng ^= 0x9e3779b97f4a7c15ull * ++launches;
    const bool shuffle = g_shuffle_rng != 0;
    std::vector<unsigned long> block_order(nblocks);
    for (unsigned long i = 0; i < nblocks; i++) block_order[i] = i;
    for (unsigned long i = nblocks; shuffle && i > 1; i--) std::swap(block_order[i - 1], block_order[shuffle_rand(i)]);

    for (unsigned long first = 0; first < nblocks; first += resident) {
        unsigned long wave = nblocks - first < resident ? nblocks - first : resident;
        std::vector<Block> blocks(wave);
        std::vector<Fiber> fibers(wave * nthreads);
        for (unsigned long bi = 0; bi < wave; bi++) {
            Block &b = blocks[bi];
            b.dyn_bytes = (dyn_smem + 15) / 16 * 16;
            b.total = b.dyn_bytes + kStaticSmemBytes;
            b.smem = (unsigned char *)aligned_alloc(128, (b.total + 127) / 128 * 128);
            b.shadow = (SmemCell *)calloc(b.total, sizeof(SmemCell));
            memset(b.smem, 0xff, b.total); /* poison: reads of unwritten shared memory show as NaN */
            b.live = (int)nthreads;
            b.warps.resize(nwarps);
            for (unsigned w = 0; w < nwarps; w++) b.warps[w].live = (int)(w + 1 < nwarps ? 32 : nthreads - 32 * w);
            unsigned long lin = block_order[first + bi];
            uint3 bidx = {(unsigned)(lin % grid.x), (unsigned)(lin / grid.x % grid.y),
                          (unsigned)(lin / ((unsigned long)grid.x * grid.y))};
            for (unsigned t = 0; t < nthreads; t++) {
                Fiber &f = fibers[bi * nthreads + t];
                f.view.thread_idx = {t % block.x, t / block.x % block.y, t / (block.x * block.y)};
                f.view.block_idx = bidx;
                f.view.block_dim = block;
                f.view.grid_dim = grid;
                f.block = &b;
                f.lane = (int)(t % 32);
                f.warp = (int)(t / 32);
                f.vc.assign(nthreads, 0);
                f.vc[t] = 1;
                init_fiber_context(f);
            }
        }
        /* Round-robin until every fiber is done; a run of rounds with no barrier
         * released and no thread finished is a deadlock (a divergent barrier, or a
         * spin on a flag nobody resident will set). */
        int idle_rounds = 0;
        std::vector<size_t> visit(fibers.size());
        for (size_t i = 0; i < visit.size(); i++) visit[i] = i;
        for (;;) {
            bool any = false;
            unsigned long before = L.progress;
            for (size_t i = visit.size(); shuffle && i > 1; i--) std::swap(visit[i - 1], visit[shuffle_rand(i)]);
            for (size_t vi : visit) {
                Fiber &f = fibers[vi];
                if (f.done) continue;
                any = true;
                L.current = &f;
                swapcontext(&L.sched, &f.ctx);
                L.current = nullptr;
            }
            if (!any) break;
            if (L.progress == before) {
                if (++idle_rounds > kDeadlockRounds) {
                    for (Fiber &f : fibers)
                        if (!f.done) {
                            fprintf(stderr, "simt: kernel %s deadlocked: block (%u,%u,%u) thread (%u,%u,%u) is still waiting (at a barrier, a warp collective or a spin)\n",
                                    name, f.view.block_idx.x, f.view.block_idx.y, f.view.block_idx.z,
                                    f.view.thread_idx.x, f.view.thread_idx.y, f.view.thread_idx.z);
                            break;
                        }
                    abort();
                }
            } else {
                idle_rounds = 0;
            }
        }
        for (Fiber &f : fibers) g_stack_pool.push_back(f.stack);
        for (Block &b : blocks) {
            free(b.smem);
            free(b.shadow);
        }
    }
    g_launch = nullptr;
    g_shuffle_rng = 0;
    g_prev_stored.swap(L.stored); /* what the next launch may overlap */
    return cudaSuccess;
}
