/* The per-byte kernels of the run index and the correlator, compiled when the package is installed.

   Byte winnowing (k-gram hashes, the low-information mask, window minima), canonical 2-bit DNA
   k-mers and their evidence test, bases written in other symbols and the k-mer form blind to how
   they were written, lookups in sorted tables, and the runs of an alphabet the text decoders
   (base64, hex) start from.  Each function reads buffers
   (bytes, numpy arrays), writes into arrays the caller allocated, and runs without the GIL so
   threads share the work.  The numpy reference in tests/index/oracle.py defines every result (the
   Python definitions in tests/index/test_symbol_runs.py those of symbol_runs and patterns);
   the constants below must equal sandbox/index/winnow.py and kmers.py (checked at import). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Hot loops get more copies: for CPUs with AVX-512 (64-bit vector multiplies and unsigned compares:
   the k-gram keys and window minima vectorise) and with a popcount instruction (chosen at load). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "popcnt", "default")))  /* x86-64-v4: GCC 11 */
#define INLINE __attribute__((always_inline)) inline
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define HOT __attribute__((target_clones("popcnt", "default")))
#define INLINE __attribute__((always_inline)) inline
#else
#define HOT
#define INLINE inline
#endif

/* Loops that AVX-512BW speeds most have a copy for it, chosen at load (avx512_probe). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#define HAVE_AVX512_PROBE 1
static int avx512_probe;   /* set at load when the CPU has AVX-512BW */
#endif

/* --- winnowing (sandbox/index/winnow.py) ------------------------------------------------------ */
#define K 32                       /* k-gram bytes */
#define W 225                      /* k-grams per window: W + K - 1 == 256 */
#define POS_BITS 20                /* window minima compare (hash prefix | position in pass) */
#define PERIODS 8                  /* low information: a period of 1..8 bytes ... */
#define BREAKS_P1 8                /* ... with at most 8 breaks for period 1 */
#define BREAKS 3                   /* ... or at most 3 for periods 2..8 */
#define POS_MASK ((UINT64_C(1) << POS_BITS) - 1)
#define HIGH_MASK (~POS_MASK)
#define KEY_CAP (HIGH_MASK ^ (UINT64_C(1) << POS_BITS))
#define LOW_INFO UINT64_MAX
#define BASE UINT64_C(0x100000001B3)
#define MIX UINT64_C(0xBF58476D1CE4E5B9)
#define LANES 4                    /* independent rolling hashes (rolling_hashes names four) */
#define BUCKET_MUL UINT64_C(0x9E3779B97F4A7C15)  /* multiplicative hash of table keys (Bloom bits) */
#define CHAIN (16 * W)             /* positions per step: keys, mask and minima stay in L1/L2 */

static uint64_t INV_BASE;          /* BASE**-1 modulo 2**64 */
static uint64_t TOP[256];          /* c * BASE**(K-1): the byte entering a rolling k-gram */
static uint64_t POW[K];            /* BASE**t: a k-gram hash as K independent products */
static uint8_t POP8[256];

static inline int max_breaks(int p) { return p == 1 ? BREAKS_P1 : BREAKS; }

static inline int pop16(uint32_t m) { return POP8[m & 0xFF] + POP8[(m >> 8) & 0xFF]; }

/* sum of b[t] * BASE**t: Horner's rule would be one chain of K multiplications. */
static inline uint64_t kgram_poly(const uint8_t *b) {
    uint64_t h = 0;
    for (int t = 0; t < K; t++) h += b[t] * POW[t];
    return h;
}

static inline uint64_t kgram_mix(uint64_t h) {
    h ^= h >> 29;
    h *= MIX;
    return h ^ (h >> 32);
}

/* Bytes equal at 16 places: bit l set when a[l] == b[l]. */
static inline uint32_t eq16(const uint8_t *a, const uint8_t *b) {
#if defined(__SSE2__)
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)a),
                                                      _mm_loadu_si128((const __m128i *)b)));
#else
    uint32_t m = 0;
    for (int l = 0; l < 16; l++) m |= (uint32_t)(a[l] == b[l]) << l;
    return m;
#endif
}

/* Can any of the 16 k-grams starting at b be low?  All of them contain the 17 bytes b[15..32);
   a k-gram with at most M breaks at period p has at most M among those bytes' 17 - p pairs.
   First the equal pairs of every period together (random data has ~0.5 of the 6 needed), then
   each period alone.  Reads b[15..39). */
static inline int block_may_be_low(const uint8_t *b) {
    const uint8_t *core = b + 15;
    uint32_t eq[PERIODS + 1];
#if defined(__SSE2__)
    __m128i c = _mm_loadu_si128((const __m128i *)core), acc = _mm_setzero_si128(), e[PERIODS + 1];
    for (int p = 1; p <= PERIODS; p++) {
        e[p] = _mm_cmpeq_epi8(c, _mm_loadu_si128((const __m128i *)(core + p)));
        acc = _mm_sub_epi8(acc, e[p]);
    }
    __m128i sad = _mm_sad_epu8(acc, _mm_setzero_si128());
    int total = _mm_cvtsi128_si32(sad) + _mm_cvtsi128_si32(_mm_unpackhi_epi64(sad, sad));
    if (total < 17 - PERIODS - BREAKS) return 0;
    for (int p = 1; p <= PERIODS; p++) eq[p] = (uint32_t)_mm_movemask_epi8(e[p]);
#else
    for (int p = 1; p <= PERIODS; p++) eq[p] = eq16(core, core + p);
#endif
    for (int p = 1; p <= PERIODS; p++) {
        int pairs = 17 - p;
        if (pop16(eq[p] & ((1u << (pairs > 16 ? 16 : pairs)) - 1)) >= pairs - max_breaks(p)) return 1;
    }
    return 0;
}

/* All 16 k-grams at b exactly periodic (no break) for some period: runs, zero padding, repeats.
   Reads b[0..56). */
static inline int block_periodic(const uint8_t *b) {
    for (int p = 1; p <= PERIODS; p++) {
        /* pairs (j, j+p) for j in [0, 47 - p): 48 lanes, the last p + 1 unused */
        uint32_t want_hi = (1u << (47 - p - 32)) - 1;
        if (eq16(b, b + p) != 0xFFFF) continue;
        if (eq16(b + 16, b + 16 + p) != 0xFFFF) continue;
        if ((eq16(b + 32, b + 32 + p) & want_hi) == want_hi) return 1;
    }
    return 0;
}

/* SWAR: 1 in each byte lane where x and y differ. */
static inline uint64_t ne_lanes(uint64_t x, uint64_t y) {
    const uint64_t low7 = UINT64_C(0x7F7F7F7F7F7F7F7F);
    uint64_t z = x ^ y;
    return (((z & low7) + low7) | z) >> 7 & UINT64_C(0x0101010101010101);
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Breaks per period of the k-gram at b, one byte lane each: lane l holds period 8 - l. */
static uint64_t breaks_lanes(const uint8_t *b) {
    uint64_t lanes = 0;
    for (int p = 1; p <= PERIODS; p++) {
        uint64_t breaks = 0;
        for (int j = 0; j < K - p; j++) breaks += b[j] != b[j + p];
        lanes |= breaks << (8 * (8 - p));
    }
    return lanes;
}

static uint64_t LANE_LIMIT;  /* per lane: max breaks + 1 */
#define LANE_HIGH UINT64_C(0x8080808080808080)

static inline int lanes_low(uint64_t lanes) {
    /* lane >= limit keeps its high bit after the subtraction; a lane below it is low information */
    return (((lanes | LANE_HIGH) - LANE_LIMIT) & LANE_HIGH) != LANE_HIGH;
}

/* Breaks of the k-gram at b + 1 from those at b (reads b[0..K], b[K] included). */
static inline uint64_t breaks_step(const uint8_t *b, uint64_t lanes) {
    const uint64_t ones = UINT64_C(0x0101010101010101);
    uint64_t enter = ne_lanes(load64(b + K - 8), b[K] * ones);  /* pairs (K - p, K): lane 8 - p */
    uint64_t leave = ne_lanes(__builtin_bswap64(load64(b + 1)), b[0] * ones);  /* pairs (0, p) */
    return lanes + enter - leave;
}

/* low[i - start] for the k-grams i in [start, end) of b (n bytes; every k-gram lies inside). */
static INLINE void low_info_range(const uint8_t *b, Py_ssize_t n, Py_ssize_t start, Py_ssize_t end,
                               uint8_t *low) {
    uint64_t lanes = 0;
    Py_ssize_t at = -2;  /* the k-gram ``lanes`` describes */
    for (Py_ssize_t a = start; a < end; a += 16) {
        Py_ssize_t stop = a + 16 < end ? a + 16 : end;
        int vector = a + 56 <= n;
        if (vector && !block_may_be_low(b + a)) {
            memset(low + (a - start), 0, (size_t)(stop - a));
            continue;
        }
        if (vector && block_periodic(b + a)) {
            memset(low + (a - start), 1, (size_t)(stop - a));
            continue;
        }
        for (Py_ssize_t i = a; i < stop; i++) {
            lanes = at == i - 1 ? breaks_step(b + i - 1, lanes) : breaks_lanes(b + i);
            at = i;
            low[i - start] = (uint8_t)lanes_low(lanes);
        }
    }
}

/* Polynomial hashes of k-grams [start, end) into keys: LANES (4) stretches rolled side by side,
   one rolling hash alone being latency-bound (a roll reads the byte after the k-gram, so the last
   k-gram of each stretch is not rolled past).  Four named scalars and no inlining into the pass:
   so the hashes stay in registers and the compiler does not pack them into vectors. */
__attribute__((noinline)) static void rolling_hashes(const uint8_t *b, Py_ssize_t start, Py_ssize_t end,
                                                    uint64_t *keys) {
    Py_ssize_t count = end - start, per = count / LANES;
    if (per > 0) {
        const uint8_t *a0 = b + start, *a1 = a0 + per, *a2 = a1 + per, *a3 = a2 + per;
        uint64_t *k0 = keys, *k1 = k0 + per, *k2 = k1 + per, *k3 = k2 + per;
        uint64_t p0 = kgram_poly(a0), p1 = kgram_poly(a1), p2 = kgram_poly(a2), p3 = kgram_poly(a3);
        for (Py_ssize_t t = 0; t < per - 1; t++) {
            k0[t] = p0;
            k1[t] = p1;
            k2[t] = p2;
            k3[t] = p3;
            p0 = (p0 - a0[t]) * INV_BASE + TOP[a0[t + K]];
            p1 = (p1 - a1[t]) * INV_BASE + TOP[a1[t + K]];
            p2 = (p2 - a2[t]) * INV_BASE + TOP[a2[t + K]];
            p3 = (p3 - a3[t]) * INV_BASE + TOP[a3[t + K]];
        }
        k0[per - 1] = p0;
        k1[per - 1] = p1;
        k2[per - 1] = p2;
        k3[per - 1] = p3;
    }
    for (Py_ssize_t t = LANES * per; t < count; t++) keys[t] = kgram_poly(b + start + t);  /* < LANES left */
}

/* Keys of k-grams [start, end): (hash prefix, capped below LOW_INFO | position), LOW_INFO where
   low: first the hashes, then the keys in place. */
static INLINE void window_keys(const uint8_t *b, Py_ssize_t start, Py_ssize_t end, const uint8_t *low,
                               uint64_t *keys) {
    Py_ssize_t count = end - start;
    rolling_hashes(b, start, end, keys);
    for (Py_ssize_t t = 0; t < count; t++) {  /* branch-free, so it vectorises */
        uint64_t h = kgram_mix(keys[t]) & HIGH_MASK;
        keys[t] = ((h < KEY_CAP ? h : KEY_CAP) | (uint64_t)(start + t)) | ((uint64_t)0 - low[t]);
    }
}

typedef struct {
    uint64_t *h;
    int64_t *pos;
    Py_ssize_t cap, count;
    uint64_t prev;
    Py_ssize_t windows, seen;
    const uint8_t *b;
} Chosen;

static inline void choose(Chosen *c, uint64_t mn) {
    if (c->seen++ && mn == c->prev) return;  /* a minimum that leaves the window never comes back */
    c->prev = mn;
    if (mn == LOW_INFO) return;
    if (c->count < c->cap) {
        Py_ssize_t p = (Py_ssize_t)(mn & POS_MASK);
        c->h[c->count] = kgram_mix(kgram_poly(c->b + p));
        c->pos[c->count] = p;
    }
    c->count++;
}

/* Running minima of one block of keys, as records: the places where a new minimum appears. */
typedef struct {
    Py_ssize_t *pos;
    uint64_t *val;
    Py_ssize_t count;
} Records;

/* Forward records of k[0..len) (positions ascending, values falling) and its backward records
   (found from the end: positions and values falling), in one pass.  Records are rare on hashes
   (~ln(len) per block): RUN keys at a time are first tested together (one vector compare), and
   only a run holding a record is walked key by key. */
#define RUN 16
static INLINE void block_records(const uint64_t *k, Py_ssize_t len, Records *fwd, Records *back) {
    uint64_t f = LOW_INFO, r = LOW_INFO;
    Py_ssize_t nf = 0, nb = 0, t = 0;
    for (; t + RUN <= len; t += RUN) {
        const uint64_t *x = k + t, *y = k + len - t - RUN;
        int fx = 0, ry = 0;
        for (int l = 0; l < RUN; l++) {
            fx |= x[l] < f;
            ry |= y[l] < r;
        }
        if (fx) {
            for (int l = 0; l < RUN; l++) {
                if (x[l] < f) {
                    f = x[l];
                    fwd->pos[nf] = t + l;
                    fwd->val[nf++] = f;
                }
            }
        }
        if (ry) {
            for (int l = RUN - 1; l >= 0; l--) {
                if (y[l] < r) {
                    r = y[l];
                    back->pos[nb] = len - t - RUN + l;
                    back->val[nb++] = r;
                }
            }
        }
    }
    for (; t < len; t++) {
        uint64_t x = k[t], y = k[len - 1 - t];
        if (x < f) {
            f = x;
            fwd->pos[nf] = t;
            fwd->val[nf++] = x;
        }
        if (y < r) {
            r = y;
            back->pos[nb] = len - 1 - t;
            back->val[nb++] = y;
        }
    }
    fwd->count = nf;
    back->count = nb;
}

/* The windows starting at offsets [0, count) of a block (its backward records ``tail``), ending in
   the next block (its forward records ``head``): window t is min(tail from t, head up to t - 1).
   The minimum changes only where t passes a record, so only those places are visited. */
static INLINE void choose_windows(Chosen *c, const Records *tail, const Records *head, Py_ssize_t count) {
    Py_ssize_t i = tail->count - 1, h = 0;  /* tail: next record at or after t; head: next to enter */
    uint64_t s = i >= 0 ? tail->val[i] : LOW_INFO, f = LOW_INFO;
    Py_ssize_t t = 0;
    while (t < count) {
        choose(c, s < f ? s : f);
        Py_ssize_t ts = i >= 0 ? tail->pos[i] + 1 : count, tf = h < head->count ? head->pos[h] + 1 : count;
        t = ts < tf ? ts : tf;
        if (t == ts && i >= 0) {
            i--;
            s = i >= 0 ? tail->val[i] : LOW_INFO;
        }
        if (t == tf && h < head->count) f = head->val[h++];
    }
}

/* Winnowing of one pass (n < 2**POS_BITS bytes): every window's minimum key, each chosen once.
   Blocks of w keys (van Herk / Gil-Werman): a window is the tail of one block and the head of
   the next, so the backward running minima of one and the forward ones of the next give it. */
HOT static Py_ssize_t winnow_pass(const uint8_t *b, Py_ssize_t n, uint64_t *out_h, int64_t *out_pos,
                                  Py_ssize_t cap, int *nomem) {
    Py_ssize_t m = n - K + 1;
    if (m <= 0) return 0;
    Py_ssize_t w = m < W ? m : W;
    Py_ssize_t span = CHAIN / W * w;  /* whole blocks per step */
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)(span + 3 * w));
    Py_ssize_t *places = malloc(sizeof(Py_ssize_t) * (size_t)(3 * w));
    uint8_t *low = malloc((size_t)span);
    if (keys == NULL || places == NULL || low == NULL) {
        free(keys);
        free(places);
        free(low);
        *nomem = 1;
        return 0;
    }
    Records head = {places, keys + span, 0}, tail = {places + w, keys + span + w, 0},
            next_tail = {places + 2 * w, keys + span + 2 * w, 0};
    Chosen c = {out_h, out_pos, cap, 0, 0, m - w + 1, 0, b};
    for (Py_ssize_t s0 = 0; s0 < m; s0 += span) {
        Py_ssize_t s1 = s0 + span < m ? s0 + span : m;
        low_info_range(b, n, s0, s1, low);
        window_keys(b, s0, s1, low, keys);
        for (Py_ssize_t j0 = s0; j0 < s1; j0 += w) {
            Py_ssize_t len = j0 + w < m ? w : m - j0;
            const uint64_t *k = keys + (j0 - s0);
            block_records(k, len, &head, &next_tail);
            if (j0 > 0) {  /* windows starting in the previous block */
                Py_ssize_t starts = c.windows - (j0 - w);
                choose_windows(&c, &tail, &head, starts < w ? starts : w);
            }
            Records swap = tail;
            tail = next_tail;
            next_tail = swap;
        }
    }
    Py_ssize_t last = (m - 1) / w * w;
    if (last < c.windows) {  /* the last block is itself a window */
        Records none = {places, keys + span, 0};
        choose_windows(&c, &tail, &none, 1);
    }
    free(keys);
    free(places);
    free(low);
    return c.count;
}

/* --- canonical DNA k-mers (sandbox/index/kmers.py) -------------------------------------------- */
#define LC_PERIODS 6    /* short tandem repeats: periods of 1..6 bases ... */
#define LC_MISMATCHES 3 /* ... with up to 3 broken bases */
static uint8_t CODE[256];  /* ACGT (either case) -> 0..3, anything else 4 */

HOT static Py_ssize_t canonical_kmers(const uint8_t *s, Py_ssize_t n, int k, uint64_t *out, int64_t *starts) {
    uint64_t mask = k == 32 ? UINT64_MAX : (UINT64_C(1) << (2 * k)) - 1;
    int shift = 2 * (k - 1);
    uint64_t fwd = 0, rev = 0;
    Py_ssize_t run = 0, count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t c = CODE[s[i]];
        uint64_t base = c & 3;
        fwd = ((fwd << 2) | base) & mask;
        rev = (rev >> 2) | ((3 - base) << shift);
        run = c < 4 ? run + 1 : 0;
        if (i >= k - 1) {  /* write always, keep when the window is clean: no branch on content */
            out[count] = fwd < rev ? fwd : rev;
            if (starts != NULL) starts[count] = i - k + 1;
            count += run >= k;
        }
    }
    return count;
}

static inline Py_ssize_t lower_bound(const uint64_t *t, Py_ssize_t lo, Py_ssize_t hi, uint64_t key);

static uint8_t LETTER[256];  /* ACGTN, either case: what a DNA run is made of */

/* Runs of DNA letters as the regex [ACGTNacgtn]{k,}(?:\r?\n[ACGTNacgtn]+)* finds them (a first
   line of >= k letters, continued over line breaks: wrapped FASTA), but not those of one letter
   repeated, joined with an N between runs into ``joined``; per run its view offset, joined offset
   and length go to ``runs`` (3 per run).  Returns the number of runs; *joined_len the bytes written. */
static Py_ssize_t find_dna_runs(const uint8_t *d, Py_ssize_t n, int k, uint8_t *joined, Py_ssize_t *joined_len,
                                int64_t *runs) {
    Py_ssize_t count = 0, jl = 0, done = 0;  /* d[0..done) is decided */
    /* Any run of >= k letters from ``done`` on holds one of done + k - 1, done + 2k - 1, ...: only
       those bytes are read until one is a letter (binary and most text skip k bytes a step). */
    for (Py_ssize_t probe = done + k - 1; probe < n; probe = done + k - 1) {
        if (!LETTER[d[probe]]) {
            done = probe + 1;
            continue;
        }
        Py_ssize_t s = probe, i = probe + 1;
        while (s > done && LETTER[d[s - 1]]) s--;
        while (i < n && LETTER[d[i]]) i++;
        done = i;
        if (i - s < k) continue;  /* no match can start inside a shorter first line */
        if (count) joined[jl++] = 'N';
        Py_ssize_t j0 = jl;
        memcpy(joined + jl, d + s, (size_t)(i - s));
        jl += i - s;
        for (;;) {  /* line breaks followed by more letters continue the run */
            Py_ssize_t j = i;
            if (j < n && d[j] == '\r') j++;
            if (!(j < n && d[j] == '\n')) break;
            j++;
            if (!(j < n && LETTER[d[j]])) break;
            Py_ssize_t t = j;
            while (t < n && LETTER[d[t]]) t++;
            memcpy(joined + jl, d + j, (size_t)(t - j));
            jl += t - j;
            i = t;
        }
        done = i;
        uint8_t first = joined[j0] | 0x20;  /* lower case */
        Py_ssize_t t = j0 + 1;
        while (t < jl && (joined[t] | 0x20) == first) t++;
        if (t == jl) {  /* one letter repeated: its only k-mer is never evidence, and it costs */
            jl = count ? j0 - 1 : 0;
            continue;
        }
        runs[3 * count] = s;
        runs[3 * count + 1] = j0;
        runs[3 * count + 2] = jl - j0;
        count++;
    }
    *joined_len = jl;
    return count;
}

/* --- bases written in other symbols (sandbox/index/kmers.py symbol_runs) ----------------------- */
#define SYM_BYTES 0        /* each byte a symbol (ASCII letters folded to lower case) */
#define SYM_SPACED 1       /* ... NUL, white space and ASCII punctuation between symbols skipped */
#define SYM_NIBBLES_HI 2   /* each half byte a symbol, the high one first (BAM) */
#define SYM_NIBBLES_LO 3   /* ... the low one first */
#define SYM_SPACED_EVERY 48  /* a spaced run holds a separator gap per this many symbols at least */
#define SYM_BREAK 256        /* a byte no spaced run holds (neither text nor a separator) */
static uint8_t SEPARATOR[256];
static uint8_t FOLD[256];
static uint8_t TEXT[256];
static uint8_t BREAKERS[256];     /* neither text nor a separator: no spaced run holds it */
static uint16_t HALVES[256];      /* the bits of a byte's two half bytes */

/* Whether the 16 bytes at p are all text (printable ASCII, tab, line breaks). */
static INLINE int text16(const uint8_t *p) {
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i shifted = _mm_add_epi8(v, _mm_set1_epi8(0x60));          /* ' '..'~' -> -128..-34 */
    __m128i ok = _mm_cmplt_epi8(shifted, _mm_set1_epi8(-33));
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')));
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
    return _mm_movemask_epi8(ok) == 0xFFFF;
#else
    for (int i = 0; i < 16; i++)
        if (!TEXT[p[i]]) return 0;
    return 1;
#endif
}

/* Whether a run of >= 40 half bytes of at most four values can hold byte ``at``: besides it, it holds
   the 8 bytes before or the 8 after it (whole), so one of those spans has at most four distinct half
   bytes; and the 16 bytes around it are not all text (printable ASCII, tab, line breaks), which half
   bytes of bases make about once in 65,000 runs.  Text, DNA letters and random bytes fail it at once. */
static INLINE int may_hold_halves(const uint8_t *d, Py_ssize_t n, Py_ssize_t at) {
    Py_ssize_t around = at - 8 < 0 ? 0 : at + 8 > n ? n - 16 : at - 8;
    if (n >= 16 && text16(d + around)) return 0;
    if (at >= 4 && at + 5 <= n) {       /* random bytes: five or more half bytes in 4 on each side */
        unsigned before = HALVES[d[at - 1]] | HALVES[d[at - 2]] | HALVES[d[at - 3]] | HALVES[d[at - 4]];
        unsigned after = HALVES[d[at + 1]] | HALVES[d[at + 2]] | HALVES[d[at + 3]] | HALVES[d[at + 4]];
        if ((__builtin_popcount(before) > 4) & (__builtin_popcount(after) > 4)) return 0;
    }
    for (int side = 0; side < 2; side++) {
        if (side ? at + 9 > n : at - 8 < 0) continue;     /* too near the end to be the long side */
        const uint8_t *p = d + (side ? at + 1 : at - 8);
        unsigned seen = 0;
        for (int i = 0; i < 8; i++) seen |= HALVES[p[i]];
        if (__builtin_popcount(seen) <= 4) return 1;
    }
    return 0;
}

/* Whether the 5 bytes at p are all distinct (letters folded), without a branch. */
static INLINE int distinct5(const uint8_t *p) {
    uint8_t a = FOLD[p[0]], b = FOLD[p[1]], c = FOLD[p[2]], d = FOLD[p[3]], e = FOLD[p[4]];
    return !((a == b) | (a == c) | (a == d) | (a == e) | (b == c) | (b == d) | (b == e) | (c == d) | (c == e)
             | (d == e));
}

/* Whether a run of >= 40 bytes (SYM_BYTES) can hold byte ``at``: it holds at least 20 more on one
   side, so the 5 bytes ending or starting at ``at`` are of at most four values on that side.
   Random bytes: both sides five distinct about 92% of the time, found without a branch. */
static INLINE int may_hold_bytes(const uint8_t *d, Py_ssize_t n, Py_ssize_t at) {
    if (at < 4 || at + 5 > n) return 1;
    return !(distinct5(d + at - 4) & distinct5(d + at));
}

/* Whether a spaced run of >= 40 symbols can hold byte ``at``: its 20 or more symbols on one side span
   20 bytes or more of text and separators, so the 5 bytes next to ``at`` on that side hold no other
   byte (BREAKERS).  Random bytes: both sides hold one about 98% of the time, found without a branch. */
static INLINE int may_hold_spaced(const uint8_t *d, Py_ssize_t n, Py_ssize_t at) {
    if (at < 5 || at + 6 > n) return 1;
    int before = BREAKERS[d[at - 5]] | BREAKERS[d[at - 4]] | BREAKERS[d[at - 3]] | BREAKERS[d[at - 2]] | BREAKERS[d[at - 1]];
    int after = BREAKERS[d[at + 1]] | BREAKERS[d[at + 2]] | BREAKERS[d[at + 3]] | BREAKERS[d[at + 4]] | BREAKERS[d[at + 5]];
    return !(before & after);
}

/* The symbol at position i (half bytes: i counts halves); spaced, -1 for a separator and SYM_BREAK
   for a byte that is neither text nor a separator. */
static INLINE int symbol_at(const uint8_t *d, Py_ssize_t i, const int mode) {
    if (mode == SYM_NIBBLES_HI || mode == SYM_NIBBLES_LO) {
        uint8_t b = d[i >> 1];
        return ((i & 1) == 0) == (mode == SYM_NIBBLES_HI) ? b >> 4 : b & 15;
    }
    uint8_t b = d[i];
    if (mode == SYM_SPACED)       /* spaced symbols are text: another byte ends a run (SYM_BREAK) */
        return SEPARATOR[b] ? -1 : TEXT[b] ? FOLD[b] : SYM_BREAK;
    return FOLD[b];
}

/* The distinct symbols of a span: at most four, as a list and a 256-bit set. */
typedef struct {
    uint64_t bits[4];
    uint8_t list[4];
    int distinct;
} SymbolSet;

static INLINE int symbol_add(SymbolSet *set, int x) {
    if (x == SYM_BREAK) return 0;
    uint64_t bit = UINT64_C(1) << (x & 63);
    if (set->bits[x >> 6] & bit) return 1;
    if (set->distinct == 4) return 0;
    set->bits[x >> 6] |= bit;
    set->list[set->distinct++] = (uint8_t)x;
    return 1;
}

#if defined(__SSE2__)
/* The lanes of 16 bytes at p that are DNA letters (either case), and which letters they are. */
static INLINE int letters16(const uint8_t *p, unsigned *letters) {
    __m128i v = _mm_or_si128(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8(0x20));
    int a = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('a')));
    int c = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('c')));
    int g = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('g')));
    int t = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('t')));
    *letters = (unsigned)(a != 0) | (unsigned)(c != 0) << 1 | (unsigned)(g != 0) << 2 | (unsigned)(t != 0) << 3;
    return a | c | g | t;
}
#endif

/* The stretch of DNA letters (and separators, spaced) around a probe on one, when it holds all four
   letters: its span of four symbols is then the stretch itself, found by a tight scan (DNA text is
   common, and its letters as bytes are read as letters). */
static INLINE int dna_stretch(const uint8_t *d, Py_ssize_t n, const int mode, Py_ssize_t decided, Py_ssize_t probe,
                              Py_ssize_t *b, Py_ssize_t *e, Py_ssize_t *symbols, Py_ssize_t *gaps) {
    unsigned letters = 0, some;
    Py_ssize_t s0 = probe, e0 = probe + 1, count = 0, breaks = 0;   /* separator then letter */
#if defined(__SSE2__)
    while (s0 - 15 >= decided && letters16(d + s0 - 15, &some) == 0xFFFF) {   /* 16 letters at a time */
        letters |= some;
        count += 16;
        s0 -= 16;
    }
#endif
    for (; s0 >= decided; s0--) {
        uint8_t c = CODE[d[s0]];
        if (c < 4) {
            letters |= 1u << c;
            count++;
        } else if (mode == SYM_SPACED && SEPARATOR[d[s0]]) {
            breaks += CODE[d[s0 + 1]] < 4;
        } else {
            break;
        }
    }
    while (e0 < n) {
#if defined(__SSE2__)
        if (e0 + 16 <= n) {       /* the letters before the first other byte of 16, at once */
            int lanes = letters16(d + e0, &some);
            int run = __builtin_ctz(~lanes);        /* 16 when all are letters */
            if (run == 16) {
                letters |= some;
            } else if (run) {
                for (int i = 0; i < run; i++) letters |= 1u << CODE[d[e0 + i]];
            }
            count += run;
            e0 += run;
            if (run == 16) continue;
        }
        if (e0 >= n) break;
#endif
        uint8_t c = CODE[d[e0]];
        if (c < 4) {
            letters |= 1u << c;
            count++;
        } else if (mode == SYM_SPACED && SEPARATOR[d[e0]]) {
            breaks += e0 + 1 < n && CODE[d[e0 + 1]] < 4;
        } else {
            break;
        }
        e0++;
    }
    if (letters != 15) return 0;
    *b = s0 + 1;
    *e = e0;
    *symbols = count;
    *gaps = breaks;
    return 1;
}

/* Any run of >= k symbols from ``decided`` on holds a probe (k - 1, then k apart, or the place a
   short span ended): around each probe the span of at most four distinct symbols is grown backwards
   then forwards; one of >= k symbols (exactly four distinct, not plain ACGT letters as bytes, spaced
   when spaced) is written to ``joined`` with its symbols named A, C, G, T in their sorted order, an
   N between runs.  Linear: a short span moves the probe on k places or past it, a long one is
   decided whole. */
static INLINE Py_ssize_t symbol_runs_as(const uint8_t *d, Py_ssize_t n, int k, const int mode, uint8_t *joined,
                                        Py_ssize_t *joined_len, int64_t *runs) {
    int halves = mode == SYM_NIBBLES_HI || mode == SYM_NIBBLES_LO;
    Py_ssize_t m = halves ? 2 * n : n, count = 0, jl = 0, decided = 0;
    for (Py_ssize_t probe = k - 1; probe < m;) {
        if ((halves && k >= 40 && !may_hold_halves(d, n, probe >> 1))
            || (mode == SYM_BYTES && k >= 40 && !may_hold_bytes(d, n, probe))
            || (mode == SYM_SPACED && (symbol_at(d, probe, mode) == SYM_BREAK
                                       || (k >= 40 && !may_hold_spaced(d, n, probe))))) {
            probe += k;
            continue;
        }
        SymbolSet set = {{0, 0, 0, 0}, {0, 0, 0, 0}, 0};
        Py_ssize_t b = probe, e = probe + 1, symbols = 0, gaps = -1;      /* -1: not counted yet */
        if (!halves && CODE[d[probe]] < 4 && dna_stretch(d, n, mode, decided, probe, &b, &e, &symbols, &gaps)) {
            for (int c = 0; c < 4; c++) symbol_add(&set, "acgt"[c]);
        } else {
            for (; b >= decided; b--) {
                Py_ssize_t at = halves ? b >> 1 : b;
                if (b + (halves ? 2 : 1) <= probe && !(halves && !(b & 1)) && at - 8 >= (halves ? decided >> 1 : decided)
                    && d[at] == d[at + 1]) {
                    /* the byte after repeated: taken 8 at a time, as forwards */
                    uint64_t rep = UINT64_C(0x0101010101010101) * d[at + 1];
                    Py_ssize_t from = at;
                    while (at - 8 >= (halves ? decided >> 1 : decided) && load64(d + at - 7) == rep) at -= 8;
                    if (at < from) {
                        int each = halves ? 2 : symbol_at(d, from + 1, mode) >= 0;
                        symbols += (from - at) * each;
                        b = halves ? 2 * at + 2 : at + 1;     /* the loop steps to the next one down */
                        continue;
                    }
                }
                int x = symbol_at(d, b, mode);
                if (x < 0) continue;
                if (!symbol_add(&set, x)) break;
                symbols++;
            }
            b++;
            for (; e < m; e++) {
                Py_ssize_t at = halves ? e >> 1 : e;
                if (e - (halves ? 2 : 1) >= b && !(halves && (e & 1)) && at + 8 <= n && d[at] == d[at - 1]) {
                    /* the byte before repeated (padding, one letter): taken 8 at a time */
                    uint64_t rep = UINT64_C(0x0101010101010101) * d[at - 1];
                    Py_ssize_t from = at;
                    while (at + 8 <= n && load64(d + at) == rep) at += 8;
                    if (at > from) {
                        int each = halves ? 2 : symbol_at(d, from - 1, mode) >= 0;
                        symbols += (at - from) * each;
                        e = (halves ? 2 * at : at) - 1;
                        continue;
                    }
                }
                int x = symbol_at(d, e, mode);
                if (x < 0) continue;
                if (!symbol_add(&set, x)) break;
                symbols++;
            }
        }
        Py_ssize_t last = e;
        if (symbols < k) {
            /* a run of >= k symbols after the probe holds ``last`` (the fifth symbol) or starts after
               it: probing there next skips what separators alone made long */
            probe = last > probe + k ? last : probe + k;
            continue;
        }
        decided = last;
        probe = last + k - 1;
        uint8_t sorted[4];
        memcpy(sorted, set.list, 4);
        for (int x = 1; x < set.distinct; x++)
            for (int y = x; y > 0 && sorted[y - 1] > sorted[y]; y--) {
                uint8_t t = sorted[y]; sorted[y] = sorted[y - 1]; sorted[y - 1] = t;
            }
        if (set.distinct < 4 || (mode == SYM_BYTES && memcmp(sorted, "acgt", 4) == 0))
            continue;
        while (b < e && symbol_at(d, b, mode) < 0) b++;      /* separators at its ends are not its */
        while (e > b && symbol_at(d, e - 1, mode) < 0) e--;
        if (halves) {          /* the half bytes of DNA letters: the letters are read as letters */
            Py_ssize_t i = b >> 1;
            while (i < (e + 1) >> 1 && LETTER[d[i]]) i++;
            if (i == (e + 1) >> 1) continue;
        }
        if (mode == SYM_SPACED) {
            if (gaps < 0) {
                gaps = 0;
                for (Py_ssize_t i = b; i + 1 < e; i++) gaps += SEPARATOR[d[i]] && !SEPARATOR[d[i + 1]];
            }
            if (gaps * SYM_SPACED_EVERY < symbols) continue;
        }
        uint8_t name[256];
        for (int c = 0; c < 4; c++) name[sorted[c]] = (uint8_t)"ACGT"[c];
        if (count) joined[jl++] = 'N';
        runs[4 * count] = halves ? b >> 1 : b;
        runs[4 * count + 1] = jl;
        runs[4 * count + 2] = symbols;
        runs[4 * count + 3] = halves ? (e + 1) >> 1 : e;
        count++;
        for (Py_ssize_t i = b; i < e; i++) {
            int x = symbol_at(d, i, mode);
            if (x >= 0) joined[jl++] = name[x];
        }
    }
    *joined_len = jl;
    return count;
}

/* One copy per mode, so that what a symbol is costs no branch per symbol. */
/* Whether some 8 bytes at a multiple of 8 hold at most four distinct half bytes: a run of >= 32 half
   bytes of four values holds 15 bytes whole, so 8 such bytes, and without them there is no run
   (random bytes: none; one pass here instead of a probe every 24 bytes). */
#ifdef HAVE_AVX512_PROBE
/* The same 64 bytes at a time: each byte's two half bytes as bits of a 16-bit set (two pshufb
   lookups for each half), ORed over every 8 bytes, counted by a table of half-byte popcounts. */
__attribute__((target("avx512f,avx512bw"))) static Py_ssize_t low_halves_avx512(const uint8_t *d, Py_ssize_t n) {
    const __m512i low_bits = _mm512_broadcast_i32x4(_mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128,
                                                                  0, 0, 0, 0, 0, 0, 0, 0));
    const __m512i high_bits = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0,
                                                                   1, 2, 4, 8, 16, 32, 64, (char)128));
    const __m512i count = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    const __m512i fifteen = _mm512_set1_epi8(15), four = _mm512_set1_epi8(4);
    Py_ssize_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i x = _mm512_loadu_si512((const void *)(d + i));
        __m512i lo = _mm512_and_si512(x, fifteen), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), fifteen);
        __m512i a = _mm512_or_si512(_mm512_shuffle_epi8(low_bits, lo), _mm512_shuffle_epi8(low_bits, hi));
        __m512i b = _mm512_or_si512(_mm512_shuffle_epi8(high_bits, lo), _mm512_shuffle_epi8(high_bits, hi));
        a = _mm512_or_si512(a, _mm512_srli_epi64(a, 32));
        b = _mm512_or_si512(b, _mm512_srli_epi64(b, 32));
        a = _mm512_or_si512(a, _mm512_srli_epi64(a, 16));
        b = _mm512_or_si512(b, _mm512_srli_epi64(b, 16));
        a = _mm512_or_si512(a, _mm512_srli_epi64(a, 8));
        b = _mm512_or_si512(b, _mm512_srli_epi64(b, 8));
        __m512i pa = _mm512_add_epi8(_mm512_shuffle_epi8(count, _mm512_and_si512(a, fifteen)),
                                     _mm512_shuffle_epi8(count, _mm512_and_si512(_mm512_srli_epi16(a, 4), fifteen)));
        __m512i pb = _mm512_add_epi8(_mm512_shuffle_epi8(count, _mm512_and_si512(b, fifteen)),
                                     _mm512_shuffle_epi8(count, _mm512_and_si512(_mm512_srli_epi16(b, 4), fifteen)));
        if (_mm512_cmple_epu8_mask(_mm512_add_epi8(pa, pb), four) & UINT64_C(0x0101010101010101)) return -1;
    }
    return i;
}
#endif

HOT static int any_low_halves_block(const uint8_t *d, Py_ssize_t n) {
    Py_ssize_t i = 0;
#ifdef HAVE_AVX512_PROBE
    if (avx512_probe) {
        i = low_halves_avx512(d, n);
        if (i < 0) return 1;
    }
#endif
    for (; i + 8 <= n; i += 8) {
        unsigned seen = HALVES[d[i]] | HALVES[d[i + 1]] | HALVES[d[i + 2]] | HALVES[d[i + 3]] | HALVES[d[i + 4]]
                        | HALVES[d[i + 5]] | HALVES[d[i + 6]] | HALVES[d[i + 7]];
        if (__builtin_popcount(seen) <= 4) return 1;
    }
    return 0;
}

static Py_ssize_t find_symbol_runs(const uint8_t *d, Py_ssize_t n, int k, int mode, uint8_t *joined,
                                   Py_ssize_t *joined_len, int64_t *runs) {
    if ((mode == SYM_NIBBLES_HI || mode == SYM_NIBBLES_LO) && k >= 32 && !any_low_halves_block(d, n)) {
        *joined_len = 0;
        return 0;
    }
    switch (mode) {
    case SYM_BYTES: return symbol_runs_as(d, n, k, SYM_BYTES, joined, joined_len, runs);
    case SYM_SPACED: return symbol_runs_as(d, n, k, SYM_SPACED, joined, joined_len, runs);
    case SYM_NIBBLES_HI: return symbol_runs_as(d, n, k, SYM_NIBBLES_HI, joined, joined_len, runs);
    default: return symbol_runs_as(d, n, k, SYM_NIBBLES_LO, joined, joined_len, runs);
    }
}

static inline int pop64(uint64_t x) { return __builtin_popcountll(x); }

/* The evidence test of one k-mer (kmer_evidence); ``adapter_bits`` a 4096-bit filter of the table. */
typedef struct {
    int k;
    uint64_t odd;  /* the low bit of every base */
    const uint8_t *entropy_low;
    const uint64_t *adapters;
    Py_ssize_t n_adapters;
    uint64_t adapter_bits[64];
} EvidenceTest;

static void evidence_init(EvidenceTest *e, int k, const uint8_t *entropy_low, const uint64_t *adapters,
                          Py_ssize_t n_adapters) {
    e->k = k;
    e->odd = 0;
    for (int i = 0; i < k; i++) e->odd |= UINT64_C(1) << (2 * i);
    e->entropy_low = entropy_low;
    e->adapters = adapters;
    e->n_adapters = n_adapters;
    memset(e->adapter_bits, 0, sizeof e->adapter_bits);
    for (Py_ssize_t i = 0; i < n_adapters; i++) {
        uint64_t h = adapters[i] * BUCKET_MUL;
        e->adapter_bits[h >> 58] |= UINT64_C(1) << ((h >> 52) & 63);
    }
}

static INLINE int is_evidence(const EvidenceTest *e, uint64_t x) {
    int k = e->k, low = 0;
    uint64_t odd = e->odd;
    for (int p = 1; p <= LC_PERIODS; p++) {
        uint64_t diff = (x ^ (x >> (2 * p))) & ((UINT64_C(1) << (2 * (k - p))) - 1);
        low |= pop64((diff | (diff >> 1)) & odd) <= LC_MISMATCHES;
    }
    uint64_t lo = x & odd, hi = (x >> 1) & odd;
    int a = pop64(~(lo | hi) & odd), c = pop64(lo & ~hi), g = pop64(hi & ~lo);
    low |= e->entropy_low[(a * (k + 1) + c) * (k + 1) + g];
    if (!low && e->n_adapters && (e->adapter_bits[(x * BUCKET_MUL) >> 58] >> (((x * BUCKET_MUL) >> 52) & 63) & 1)) {
        Py_ssize_t at = lower_bound(e->adapters, 0, e->n_adapters, x);
        low = at < e->n_adapters && e->adapters[at] == x;
    }
    return !low;
}

HOT static void kmer_evidence(const uint64_t *kmers, Py_ssize_t n, int k, const uint8_t *entropy_low,
                              const uint64_t *adapters, Py_ssize_t n_adapters, uint8_t *out) {
    EvidenceTest e;
    evidence_init(&e, k, entropy_low, adapters, n_adapters);
    for (Py_ssize_t i = 0; i < n; i++) out[i] = (uint8_t)is_evidence(&e, kmers[i]);
}

/* --- read-sized windows of a view's DNA (sandbox/correlate/sequence.py) ------------------------ */
#define PAIR_HASH ((UINT64_C(1) << 40) - 1)  /* k-mer hash bits that tell k-mers apart in a window */

/* splitmix64's finaliser (sandbox/index/winnow.py mix64): the FracMinHash key of a k-mer. */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return x;
}

/* The bases of x (2-bit codes, at the even bits ``ones``) renamed by ``name``: a permutation of
   2-bit values is affine (p(c) = M c ^ p(0)), so all bases are renamed at once. */
static inline uint64_t renamed(uint64_t x, const int *name, uint64_t ones) {
    uint64_t p0 = (uint64_t)name[0], col_l = (uint64_t)name[1] ^ p0, col_h = (uint64_t)name[2] ^ p0;
    uint64_t lo = x & ones, hi = (x >> 1) & ones;
    uint64_t out_lo = (-(col_l & 1) & lo) ^ (-(col_h & 1) & hi) ^ (-(p0 & 1) & ones);
    uint64_t out_hi = (-((col_l >> 1) & 1) & lo) ^ (-((col_h >> 1) & 1) & hi) ^ (-((p0 >> 1) & 1) & ones);
    return (out_hi << 1) | out_lo;
}

/* A k-mer's form blind to how its bases were written: its bases renamed 0, 1, 2, 3 in their order of
   first appearance, read forwards and backwards, the smaller, mixed (the lookup tables want uniform
   values).  The same for the k-mer in any four symbols, reversed or complemented.  Without a branch
   on the bases: each code's first place from either end is a count of leading or trailing zeros. */
static inline uint64_t kmer_pattern(uint64_t x, int k) {
    uint64_t ones = UINT64_C(0x5555555555555555) >> (64 - 2 * k);
    int first[4], last[4], fwd_name[4], back_name[4];
    for (int c = 0; c < 4; c++) {
        uint64_t y = x ^ (ones * (uint64_t)c);
        uint64_t at = ~(y | (y >> 1)) & ones;          /* the places of code c */
        first[c] = at ? 63 - __builtin_clzll(at) : -1;  /* from the first base (high bits) */
        last[c] = at ? __builtin_ctzll(at) : 64;
    }
    for (int c = 0; c < 4; c++) {
        int f = 0, l = 0;
        for (int o = 0; o < 4; o++) {
            f += o != c && (first[o] > first[c] || (first[o] == first[c] && o < c));
            l += o != c && (last[o] < last[c] || (last[o] == last[c] && o < c));
        }
        fwd_name[c] = f;
        back_name[c] = l;
    }
    uint64_t fwd = renamed(x, fwd_name, ones), r = renamed(x, back_name, ones);
    r = ((r >> 2) & UINT64_C(0x3333333333333333)) | ((r & UINT64_C(0x3333333333333333)) << 2);
    r = ((r >> 4) & UINT64_C(0x0F0F0F0F0F0F0F0F)) | ((r & UINT64_C(0x0F0F0F0F0F0F0F0F)) << 4);
    uint64_t back = __builtin_bswap64(r) >> (64 - 2 * k);
    return mix64(fwd < back ? fwd : back);
}

typedef struct {
    const uint64_t *kmers;
    const int64_t *starts;     /* offset of each k-mer in the joined runs, ascending */
    const int64_t *run_starts; /* where each run starts in the joined runs, ascending, first 0 */
    Py_ssize_t n, runs;
    const uint8_t *found;
    int need, window;
    double min_share;
    uint64_t max_hash;         /* a sampled index counts only k-mers hashing at most this */
    const EvidenceTest *evidence;
    uint8_t *considered;       /* 2: not yet tested */
    uint64_t *set;             /* open addressing, ``mask`` + 1 slots, all 0 between windows */
    Py_ssize_t *used;
    uint64_t mask;
    uint8_t *confirmed;
} Windows;

/* Distinct (k-mer hash, found) pairs of the considered k-mers of kmers[a:b] and how many of them
   were found; the window is good when enough of them were (sequence.match's rule). */
static INLINE int window_good(Windows *w, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t raw = 0;
    for (Py_ssize_t i = a; i < b; i++) raw += w->found[i];
    if (raw < w->need) return 0;  /* distinct found ones are fewer still */
    Py_ssize_t total = 0, hits = 0, used = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        uint64_t x = w->kmers[i];
        uint64_t h = mix64(x);
        if (w->considered[i] == 2)
            w->considered[i] = (uint8_t)(h <= w->max_hash && is_evidence(w->evidence, x));
        if (!w->considered[i]) continue;
        uint64_t key = ((h & PAIR_HASH) << 2) | ((uint64_t)w->found[i] << 1) | 1;
        uint64_t slot = (key * BUCKET_MUL) >> 32 & w->mask;
        while (w->set[slot] != 0 && w->set[slot] != key) slot = (slot + 1) & w->mask;
        if (w->set[slot] == 0) {
            w->set[slot] = key;
            w->used[used++] = (Py_ssize_t)slot;
            total++;
            hits += w->found[i];
        }
    }
    for (Py_ssize_t u = 0; u < used; u++) w->set[w->used[u]] = 0;
    return hits >= w->need && (double)hits >= w->min_share * (double)total;
}

/* One tiling (windows of ``window`` k-mer starts from ``shift`` before each run's start): marks the
   found k-mers of its good windows in ``confirmed``; returns how many windows were good. */
HOT static Py_ssize_t tiling(Windows *w, int shift) {
    Py_ssize_t good = 0, run = 0, a = 0;
    int64_t current = -1, limit = -1;  /* offsets below ``limit`` are in window ``current`` */
    for (Py_ssize_t i = 0; i <= w->n; i++) {
        int64_t id = -1;
        if (i < w->n) {
            int64_t at = w->starts[i];
            if (at < limit) continue;  /* the same window: no division */
            while (run + 1 < w->runs && w->run_starts[run + 1] <= at) run++;
            int64_t q = (at - w->run_starts[run] + shift) / w->window;
            id = (int64_t)run * ((int64_t)1 << 32) + q;
            limit = w->run_starts[run] + (q + 1) * w->window - shift;
            if (run + 1 < w->runs && w->run_starts[run + 1] < limit) limit = w->run_starts[run + 1];
        }
        if (id == current) continue;
        if (i > a && window_good(w, a, i)) {
            good++;
            for (Py_ssize_t j = a; j < i; j++) w->confirmed[j] |= w->found[j];
        }
        a = i;
        current = id;
    }
    return good;
}

/* --- sorted sets (sandbox/index/kmerset.py) --------------------------------------------------- */
#define MAX_PARTS 64  /* parts a union takes at once: one bit each in the membership masks */

/* The union of ``parts`` sorted distinct arrays (values[bounds[i]:bounds[i+1]]): sorted distinct
   values, and per value a mask of the parts holding it (if ``masks``).  A merge of the heads. */
static Py_ssize_t union_sorted(const uint64_t *values, const int64_t *bounds, int parts, uint64_t *out,
                               uint64_t *masks) {
    Py_ssize_t at[MAX_PARTS], end[MAX_PARTS], count = 0;
    for (int i = 0; i < parts; i++) {
        at[i] = bounds[i];
        end[i] = bounds[i + 1];
    }
    for (;;) {
        uint64_t low = UINT64_MAX;
        int any = 0;
        for (int i = 0; i < parts; i++)
            if (at[i] < end[i] && (!any || values[at[i]] < low)) {
                low = values[at[i]];
                any = 1;
            }
        if (!any) return count;
        uint64_t mask = 0;
        for (int i = 0; i < parts; i++)
            if (at[i] < end[i] && values[at[i]] == low) {
                mask |= UINT64_C(1) << i;
                at[i]++;
            }
        out[count] = low;
        if (masks != NULL) masks[count] = mask;
        count++;
    }
}

/* The union of the sorted distinct runs buf[lo:lo+n] and b (m items) in place, in buf itself:
   forward from buf[0] when at least m free slots lie before the run (a write never passes the
   next unread item of the run), else backward from the end of buf when m free slots lie after it.
   No second array: the free slots on one side are the merge's only room.  The result lies at
   buf[*out_lo:*out_lo+count], at one end of buf; -1 when neither side has room. */
static Py_ssize_t merge_in_place(uint64_t *buf, Py_ssize_t cap, Py_ssize_t lo, Py_ssize_t n, const uint64_t *b,
                                 Py_ssize_t m, Py_ssize_t *out_lo) {
    if (lo >= m) {
        const uint64_t *a = buf + lo;
        Py_ssize_t i = 0, j = 0, count = 0;
        while (i < n && j < m) {
            uint64_t x = a[i], y = b[j];
            buf[count++] = x < y ? x : y;
            i += x <= y;
            j += y <= x;
        }
        while (i < n) buf[count++] = a[i++];
        while (j < m) buf[count++] = b[j++];
        *out_lo = 0;
        return count;
    }
    if (cap - lo - n >= m) {
        const uint64_t *a = buf + lo;
        Py_ssize_t i = n, j = m, w = cap;
        while (i > 0 && j > 0) {
            uint64_t x = a[i - 1], y = b[j - 1];
            buf[--w] = x > y ? x : y;
            i -= x >= y;
            j -= y >= x;
        }
        while (i > 0) buf[--w] = a[--i];
        while (j > 0) buf[--w] = b[--j];
        *out_lo = w;
        return cap - w;
    }
    return -1;
}

/* The items of buf[lo:lo+n] whose mix64 is at most limit, in order, moved to buf[0:count]. */
static Py_ssize_t sample_in_place(uint64_t *buf, Py_ssize_t lo, Py_ssize_t n, uint64_t limit) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = lo; i < lo + n; i++) {
        uint64_t x = buf[i];
        buf[count] = x;
        count += mix64(x) <= limit;
    }
    return count;
}

/* values[i] = values[order[i]] for every i, in place (a permutation's cycles followed one by one;
   seen: a bit per item, zeroed by the caller).  8-byte items; -1 if order is not a permutation. */
static int permute_in_place(uint64_t *values, const int64_t *order, Py_ssize_t n, uint8_t *seen) {
    for (Py_ssize_t start = 0; start < n; start++) {
        if (seen[start >> 3] >> (start & 7) & 1) continue;
        uint64_t first = values[start];
        Py_ssize_t at = start;
        for (;;) {
            seen[at >> 3] |= (uint8_t)(1 << (at & 7));
            Py_ssize_t from = (Py_ssize_t)order[at];
            if (from == start) {
                values[at] = first;
                break;
            }
            if (seen[from >> 3] >> (from & 7) & 1) return -1;
            values[at] = values[from];
            at = from;
        }
    }
    return 0;
}

/* Sorted a[0..n) made distinct in place; returns how many values are left. */
static Py_ssize_t dedupe_sorted(uint64_t *a, Py_ssize_t n) {
    if (n == 0) return 0;
    Py_ssize_t count = 1;
    for (Py_ssize_t i = 1; i < n; i++) {
        a[count] = a[i];
        count += a[i] != a[count - 1];
    }
    return count;
}

/* --- sorted-table lookups (sandbox/index/runindex.py) ----------------------------------------- */

/* First row of t[lo:hi) not below key (hi if none): branch-free halving. */
static inline Py_ssize_t lower_bound(const uint64_t *t, Py_ssize_t lo, Py_ssize_t hi, uint64_t key) {
    Py_ssize_t len = hi - lo;
    if (len <= 0) return lo;
    const uint64_t *base = t + lo;
    while (len > 1) {
        Py_ssize_t half = len >> 1;
        base = base[half] < key ? base + half : base;
        len -= half;
    }
    return (base - t) + (*base < key);
}

/* First row of t[lo:hi) above key (hi if none). */
static inline Py_ssize_t upper_bound(const uint64_t *t, Py_ssize_t lo, Py_ssize_t hi, uint64_t key) {
    Py_ssize_t len = hi - lo;
    if (len <= 0) return lo;
    const uint64_t *base = t + lo;
    while (len > 1) {
        Py_ssize_t half = len >> 1;
        base = base[half] <= key ? base + half : base;
        len -= half;
    }
    return (base - t) + (*base <= key);
}

typedef struct {
    const uint64_t *table;
    Py_ssize_t rows;
    const uint32_t *starts;  /* directory: first row of each bucket of the top key bits, then rows */
    Py_ssize_t buckets;
    int shift;
} Directory;

#define BATCH 32  /* queries in flight: their cache misses (bitmap, directory, table) overlap */

static inline uint64_t bucket_of(const Directory *d, uint64_t key) {
    uint64_t bk = key >> d->shift;
    return bk < (uint64_t)d->buckets ? bk : (uint64_t)d->buckets - 1;
}

/* Queries go in batches, stage by stage: every bitmap byte of the batch is requested before the
   first is read, then every directory entry of the survivors, then their first table rows. */
static Py_ssize_t lookup_rows(const Directory *d, const uint8_t *bloom, int bloom_bits, const uint64_t *q,
                              Py_ssize_t n, uint8_t *found, int64_t *rows) {
    Py_ssize_t count = 0, pass[BATCH], lo[BATCH], hi[BATCH];
    uint64_t slot[BATCH];
    int shift = 64 - bloom_bits;
    for (Py_ssize_t b0 = 0; b0 < n; b0 += BATCH) {
        Py_ssize_t size = n - b0 < BATCH ? n - b0 : BATCH, survivors = 0;
        for (Py_ssize_t j = 0; j < size; j++) {
            slot[j] = (q[b0 + j] * BUCKET_MUL) >> shift;
            __builtin_prefetch(bloom + (slot[j] >> 3));
        }
        for (Py_ssize_t j = 0; j < size; j++) {
            found[b0 + j] = 0;
            if ((bloom[slot[j] >> 3] >> (slot[j] & 7)) & 1) {
                pass[survivors++] = j;
                __builtin_prefetch(d->starts + bucket_of(d, q[b0 + j]));
            }
        }
        for (Py_ssize_t s = 0; s < survivors; s++) {
            uint64_t bk = bucket_of(d, q[b0 + pass[s]]);
            lo[s] = d->starts[bk];
            hi[s] = d->starts[bk + 1];
            __builtin_prefetch(d->table + lo[s]);
        }
        for (Py_ssize_t s = 0; s < survivors; s++) {
            uint64_t key = q[b0 + pass[s]];
            Py_ssize_t at = lower_bound(d->table, lo[s], hi[s], key);
            if (at < d->rows && d->table[at] == key) {
                found[b0 + pass[s]] = 1;
                rows[count++] = at;
            }
        }
    }
    return count;
}

static Py_ssize_t lookup_ranges(const Directory *d, const uint8_t *bloom, int bloom_bits, const uint64_t *q,
                                Py_ssize_t n, int64_t *hit, int64_t *los, int64_t *his) {
    Py_ssize_t count = 0, pass[BATCH], lo[BATCH], hi[BATCH];
    uint64_t slot[BATCH];
    int shift = 64 - bloom_bits;
    for (Py_ssize_t b0 = 0; b0 < n; b0 += BATCH) {
        Py_ssize_t size = n - b0 < BATCH ? n - b0 : BATCH, survivors = 0;
        for (Py_ssize_t j = 0; j < size; j++) {
            slot[j] = (q[b0 + j] * BUCKET_MUL) >> shift;
            __builtin_prefetch(bloom + (slot[j] >> 3));
        }
        for (Py_ssize_t j = 0; j < size; j++) {
            if ((bloom[slot[j] >> 3] >> (slot[j] & 7)) & 1) {
                pass[survivors++] = j;
                __builtin_prefetch(d->starts + bucket_of(d, q[b0 + j]));
            }
        }
        for (Py_ssize_t s = 0; s < survivors; s++) {
            uint64_t bk = bucket_of(d, q[b0 + pass[s]]);
            lo[s] = d->starts[bk];
            hi[s] = d->starts[bk + 1];
            __builtin_prefetch(d->table + lo[s]);
        }
        for (Py_ssize_t s = 0; s < survivors; s++) {
            uint64_t key = q[b0 + pass[s]];
            Py_ssize_t first = lower_bound(d->table, lo[s], hi[s], key);
            if (first >= d->rows || d->table[first] != key) continue;
            hit[count] = b0 + pass[s];
            los[count] = first;
            his[count] = upper_bound(d->table, first, hi[s], key);  /* equal keys share a bucket */
            count++;
        }
    }
    return count;
}

/* --- MS-XCA: Windows' LZNT1, plain LZ77 and LZ77+Huffman (sandbox/decode/msxca.py) --------------- */

enum { XCA_INPUT_ENDED = 0, XCA_OUTPUT_FULL = 1, XCA_CORRUPT = 2 };

static inline uint32_t xca_le16(const uint8_t *d, Py_ssize_t n, Py_ssize_t i) {   /* past the end: zeros */
    return (i < n ? d[i] : 0) | (uint32_t)(i + 1 < n ? d[i + 1] : 0) << 8;
}

static inline uint32_t xca_le32(const uint8_t *d, Py_ssize_t n, Py_ssize_t i) {
    return xca_le16(d, n, i) | xca_le16(d, n, i + 2) << 16;
}

/* A back reference: ``len`` bytes from ``off`` back, byte by byte (it may overlap what it writes),
   at most to ``room``; 0 when it points before the output's start. */
static inline int xca_copy(uint8_t *out, Py_ssize_t *o, Py_ssize_t room, Py_ssize_t off, Py_ssize_t len,
                           Py_ssize_t start, int *status) {
    if (off > *o - start || off <= 0) { *status = XCA_CORRUPT; return 0; }
    Py_ssize_t end = *o + len > room ? room : *o + len;
    for (Py_ssize_t j = *o; j < end; j++) out[j] = out[j - off];
    if (*o + len > room) { *o = room; *status = XCA_OUTPUT_FULL; return 0; }
    *o = end;
    return 1;
}

/* A match length past its short field (MS-XCA 2.2, 2.4): a byte; 255 there says 16 bits follow, and 0
   there 32; the long forms count ``floor`` (the short fields' share) too.  0 when the input ends or lies. */
static inline int xca_long_length(const uint8_t *d, Py_ssize_t n, Py_ssize_t *i, Py_ssize_t *len,
                                  Py_ssize_t floor) {
    if (*i >= n) return 0;
    *len = d[(*i)++];
    if (*len == 255) {
        if (*i + 2 > n) return 0;
        *len = xca_le16(d, n, *i);
        *i += 2;
        if (!*len) {
            if (*i + 4 > n) return 0;
            *len = xca_le32(d, n, *i);
            *i += 4;
        }
        if (*len < floor) return 0;
        *len -= floor;
    }
    *len += 15;
    return 1;
}

/* Plain LZ77 (MS-XCA 2.4): 32 flags a word, most significant first; a match is 13 bits of distance
   and 3 of length, longer lengths in a shared half byte, a byte, 16 and 32 bits. */
static Py_ssize_t xca_lz77(const uint8_t *d, Py_ssize_t n, uint8_t *out, Py_ssize_t room, Py_ssize_t *read,
                           int *status) {
    Py_ssize_t i = 0, o = 0, half = -1;
    uint32_t flags = 0;
    int count = 0;
    *status = XCA_INPUT_ENDED;
    for (;;) {
        if (!count) {
            if (i + 4 > n) break;
            flags = xca_le32(d, n, i);
            i += 4;
            count = 32;
        }
        count--;
        if (!(flags >> count & 1)) {
            if (i >= n) break;
            if (o >= room) { *status = XCA_OUTPUT_FULL; break; }
            out[o++] = d[i++];
            continue;
        }
        if (i >= n) break;                 /* the flags' trailing ones: the end */
        if (i + 2 > n) { *status = XCA_CORRUPT; break; }
        uint32_t word = xca_le16(d, n, i);
        i += 2;
        Py_ssize_t len = word & 7, off = (word >> 3) + 1;
        if (len == 7) {
            if (half < 0) {
                if (i >= n) { *status = XCA_CORRUPT; break; }
                len = d[i] & 15;
                half = i++;
            } else {
                len = d[half] >> 4;
                half = -1;
            }
            if (len == 15 && !xca_long_length(d, n, &i, &len, 15 + 7)) { *status = XCA_CORRUPT; break; }
            len += 7;
        }
        if (!xca_copy(out, &o, room, off, len + 3, 0, status)) break;
    }
    *read = i;
    return o;
}

/* LZNT1 (MS-XCA 2.5): chunks of 4096 bytes, each stored or compressed (a flag byte per eight items,
   least significant first; a match's split between distance and length moves with the position in
   the chunk); a zero header ends the stream. */
static Py_ssize_t xca_lznt1(const uint8_t *d, Py_ssize_t n, uint8_t *out, Py_ssize_t room, Py_ssize_t *read,
                            int *status) {
    Py_ssize_t i = 0, o = 0;
    *status = XCA_INPUT_ENDED;
    while (i + 2 <= n) {
        uint32_t header = xca_le16(d, n, i);
        i += 2;
        if (!header) break;
        Py_ssize_t end = i + (header & 0xFFF) + 1, chunk = o;
        if (end > n) end = n;
        if (!(header & 0x8000)) {          /* stored */
            Py_ssize_t take = end - i;
            if (take > room - o) { memcpy(out + o, d + i, room - o); o = room; *status = XCA_OUTPUT_FULL; break; }
            memcpy(out + o, d + i, take);
            o += take;
            i = end;
            continue;
        }
        while (i < end && *status == XCA_INPUT_ENDED) {
            uint8_t flags = d[i++];
            for (int b = 0; b < 8 && i < end; b++) {
                if (!(flags >> b & 1)) {
                    if (o >= room) { *status = XCA_OUTPUT_FULL; break; }
                    out[o++] = d[i++];
                    continue;
                }
                if (i + 2 > end) { *status = XCA_CORRUPT; break; }
                uint32_t word = xca_le16(d, n, i);
                i += 2;
                int length_bits = 12;
                for (Py_ssize_t at = o - chunk - 1; at >= 0x10; at >>= 1) length_bits--;
                if (!xca_copy(out, &o, room, (word >> length_bits) + 1, (word & ((1u << length_bits) - 1)) + 3,
                              chunk, status)) break;
            }
        }
        if (*status != XCA_INPUT_ENDED) break;
    }
    *read = i;
    return o;
}

#define XCA_TABLE_BITS 15

/* LZ77+Huffman (MS-XCA 2.2): blocks of 65536 output bytes, each after a table of 512 code lengths in
   half bytes; codes are read most significant bit first from 16-bit little-endian words; symbols
   256-511 are matches (length in the low four bits, distance bits in the high four). */
static Py_ssize_t xca_huffman(const uint8_t *d, Py_ssize_t n, uint8_t *out, Py_ssize_t room, Py_ssize_t *read,
                              int *status, uint16_t *table) {
    Py_ssize_t i = 0, o = 0;
    uint8_t lengths[512];
    *status = XCA_INPUT_ENDED;
    while (o < room) {
        if (i + 256 > n) { if (i < n) *status = XCA_CORRUPT; break; }
        for (int k = 0; k < 256; k++) {
            lengths[2 * k] = d[i + k] & 15;
            lengths[2 * k + 1] = d[i + k] >> 4;
        }
        i += 256;
        Py_ssize_t entry = 0;
        for (int bits = 1; bits <= XCA_TABLE_BITS && entry <= (1 << XCA_TABLE_BITS); bits++)
            for (int sym = 0; sym < 512; sym++)
                if (lengths[sym] == bits) {
                    Py_ssize_t count = (Py_ssize_t)1 << (XCA_TABLE_BITS - bits);
                    if (entry + count > (1 << XCA_TABLE_BITS)) { entry = (1 << XCA_TABLE_BITS) + 1; break; }
                    for (Py_ssize_t e = 0; e < count; e++) table[entry + e] = (uint16_t)sym;
                    entry += count;
                }
        if (entry != (1 << XCA_TABLE_BITS)) { *status = XCA_CORRUPT; break; }   /* not a whole code */
        uint32_t next = xca_le16(d, n, i) << 16 | xca_le16(d, n, i + 2);
        /* bits at the bottom of what ``next`` holds that are zeros from past the input's end (a word
           with a byte past it counts whole): a code reaching into them means the input was cut */
        int extra = 16, pad = i + 2 > n ? 32 : i + 4 > n ? 16 : 0;
        i += 4;
        Py_ssize_t block_end = o + 65536;
        while (o < block_end && o < room) {
            int sym = table[next >> (32 - XCA_TABLE_BITS)], bits = lengths[sym];
            next <<= bits;
            extra -= bits;
            if (16 + extra < pad) break;
            if (extra < 0) {
                pad += i + 2 > n ? 16 : 0;
                next |= xca_le16(d, n, i) << -extra; extra += 16; i += 2;
            }
            if (sym < 256) { out[o++] = (uint8_t)sym; continue; }
            if (sym == 256 && i >= n) break;          /* the end of the stream */
            sym -= 256;
            Py_ssize_t len = sym & 15;
            int off_bits = sym >> 4;
            if (len == 15 && !xca_long_length(d, n, &i, &len, 15)) { *status = XCA_CORRUPT; break; }
            Py_ssize_t off = (off_bits ? next >> (32 - off_bits) : 0) + ((Py_ssize_t)1 << off_bits);
            next = off_bits ? next << off_bits : next;
            extra -= off_bits;
            if (16 + extra < pad) break;
            if (extra < 0) {
                pad += i + 2 > n ? 16 : 0;
                next |= xca_le16(d, n, i) << -extra; extra += 16; i += 2;
            }
            if (!xca_copy(out, &o, room, off, len + 3, 0, status)) break;
        }
        if (*status != XCA_INPUT_ENDED || o < block_end) break;
    }
    /* the room is full and more than an end symbol and its padding is left: the stream holds more */
    if (o >= room && *status == XCA_INPUT_ENDED && i + 8 < n) *status = XCA_OUTPUT_FULL;
    *read = i > n ? n : i;
    return o;
}

/* --- LZW (sandbox/decode/lzw.py) ---------------------------------------------------------------- */

#define LZW_MAX_BITS 16
#define LZW_TABLE (1 << LZW_MAX_BITS)

enum { LZW_INPUT_ENDED = 0, LZW_OUTPUT_FULL = 1, LZW_CORRUPT = 2, LZW_END_CODE = 3 };

/* LZW codes from bit ``*bits`` of d into out (at most room bytes).  ``msb``: codes are read most
   significant bit first (PDF, TIFF) rather than least (compress); codes start at 9 bits and widen
   up to max_bits when the next free entry would not fit (``early``: one entry sooner, as PDF and
   TIFF do); code 256 empties the table when ``clear`` (the next free entry is then 257, else 256);
   code 257 ends the data when ``eod``; ``groups``: compress(1)'s encoder writes codes in groups of
   eight and pads the group when the width changes or the table empties, so the reader skips to the
   group's end.  Returns the bytes written; *bits is where decoding stopped, *status why.  Memory is
   the table (a prefix and a suffix an entry) and one string's stack; time is linear in the output. */
static Py_ssize_t lzw(const uint8_t *d, Py_ssize_t n, int64_t *bits, int msb, int max_bits, int clear, int eod,
                      int early, int groups, uint8_t *out, Py_ssize_t room, int *status,
                      uint16_t *prefix, uint8_t *suffix, uint8_t *stack) {
    const int64_t end_bit = (int64_t)n * 8;
    const int first_free = 256 + (clear ? 1 : 0) + (eod ? 1 : 0);
    int64_t pos = *bits, group = pos;
    int width = 9, free_ent = first_free, old = -1, fin = 0;
    Py_ssize_t made = 0;
    *status = LZW_INPUT_ENDED;
    for (;;) {
        if (width < max_bits && free_ent + early > (1 << width) - 1) {
            if (groups) {                      /* the encoder padded the group it was writing */
                int64_t span = (int64_t)width * 8, used = pos - group;
                pos = group + (used + span - 1) / span * span;
            }
            width++;
            group = pos;
        }
        if (pos + width > end_bit) break;
        int code = 0;
        Py_ssize_t at = (Py_ssize_t)(pos >> 3);
        if (at + 4 <= n) {                     /* a code of 16 bits at most lies in 4 bytes */
            const uint8_t *b = d + at;
            if (msb) {
                uint32_t w = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
                code = (int)((w << (pos & 7)) >> (32 - width));
            } else {
                uint32_t w = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
                code = (int)((w >> (pos & 7)) & ((1u << width) - 1));
            }
            pos += width;
        } else if (msb) {
            for (int k = 0; k < width; k++, pos++) code = code << 1 | (d[pos >> 3] >> (7 - (pos & 7)) & 1);
        } else {
            for (int k = 0; k < width; k++, pos++) code |= (d[pos >> 3] >> (pos & 7) & 1) << k;
        }
        if (clear && code == 256) {
            if (groups) {
                int64_t span = (int64_t)width * 8, used = pos - group;
                pos = group + (used + span - 1) / span * span;
            }
            width = 9;
            group = pos;
            free_ent = first_free;
            old = -1;
            continue;
        }
        if (eod && code == 257) { *status = LZW_END_CODE; break; }
        if (old < 0) {
            if (code >= 256) { *status = LZW_CORRUPT; pos -= width; break; }
            if (made >= room) { *status = LZW_OUTPUT_FULL; pos -= width; break; }
            out[made++] = (uint8_t)code;
            old = fin = code;
            continue;
        }
        if (code > free_ent || (code >= 256 && code < first_free)
                || (code == free_ent && free_ent >= (1 << max_bits))) {
            *status = LZW_CORRUPT; pos -= width; break;
        }
        int top = 0, c = code;
        if (code == free_ent) { stack[top++] = (uint8_t)fin; c = old; }  /* the string being defined */
        while (c >= 256) { stack[top++] = suffix[c]; c = prefix[c]; }
        stack[top++] = (uint8_t)c;
        fin = c;
        if (room - made < top) {               /* what fits, then stop */
            while (made < room) out[made++] = stack[--top];
            *status = LZW_OUTPUT_FULL;
            break;
        }
        while (top) out[made++] = stack[--top];
        if (free_ent < (1 << max_bits)) {
            prefix[free_ent] = (uint16_t)old;
            suffix[free_ent] = (uint8_t)fin;
            free_ent++;
        }
        old = code;
    }
    if (pos > end_bit) pos = end_bit > *bits ? end_bit : *bits;  /* a group padded past the end */
    *bits = pos;
    return made;
}

/* --- Python glue ------------------------------------------------------------------------------ */

/* --- words as symbols (sandbox/decode/words.py) ---------------------------------------------- */

#define TOKEN_SLOTS 512          /* open addressing for at most TOKEN_IDS tokens: never half full */
#define TOKEN_IDS 255

/* out[j] = the j-th token's number (1..255): tokens are the runs of two bytes or more between
   separators (NUL, white space, ASCII punctuation; one-byte symbols are read in the text itself),
   numbered as they first appear and compared whole (no hash an instrument could make collide), the
   numbering started afresh when a 256th would be needed.  Returns the tokens written (at most room);
   *cut says whether the last of them runs to the end of d (the view may have cut it). */
static Py_ssize_t token_ids(const uint8_t *d, Py_ssize_t n, uint8_t *out, Py_ssize_t room, int *cut) {
    Py_ssize_t start[TOKEN_SLOTS], length[TOKEN_SLOTS];
    uint8_t id[TOKEN_SLOTS];
    memset(id, 0, sizeof id);
    int used = 0;
    Py_ssize_t count = 0, i = 0;
    *cut = 0;
    while (count < room) {
        while (i < n && SEPARATOR[d[i]]) i++;
        if (i >= n) break;
        Py_ssize_t s0 = i;
        uint64_t h = 1469598103934665603ULL;
        for (; i < n && !SEPARATOR[d[i]]; i++) h = (h ^ d[i]) * 1099511628211ULL;
        Py_ssize_t len = i - s0;
        if (len == 1) continue;                /* one-byte symbols are read in the text itself */
        h ^= (uint64_t)len * 0x9E3779B97F4A7C15ULL;
        size_t slot = (size_t)(h ^ (h >> 29)) & (TOKEN_SLOTS - 1);
        while (id[slot] && !(length[slot] == len && memcmp(d + start[slot], d + s0, (size_t)len) == 0))
            slot = (slot + 1) & (TOKEN_SLOTS - 1);
        if (!id[slot]) {
            if (used == TOKEN_IDS) {           /* afresh: the table empties, this token takes number 1 */
                memset(id, 0, sizeof id);
                used = 0;
                slot = (size_t)(h ^ (h >> 29)) & (TOKEN_SLOTS - 1);
            }
            id[slot] = (uint8_t)++used;
            start[slot] = s0;
            length[slot] = len;
        }
        out[count++] = id[slot];
        *cut = i == n;
    }
    return count;
}

/* --- repeating-key XOR (sandbox/decode/xor.py) ---------------------------------------------- */

/* out[L - 1] = how many i < n - lags have d[i] == d[i + L], for L = 1..lags: the byte's agreement with
   itself one key length on, which a repeating key keeps and shifts hide (SSE2: 16 compares at a time,
   counted in bytes that are summed before they can wrap). */
static void lag_matches(const uint8_t *d, Py_ssize_t n, Py_ssize_t lags, int64_t *out) {
    Py_ssize_t m = n - lags;
    for (Py_ssize_t L = 1; L <= lags; L++) {
        const uint8_t *e = d + L;
        int64_t count = 0;
        Py_ssize_t i = 0;
#if defined(__SSE2__)
        const __m128i zero = _mm_setzero_si128();
        while (i + 16 <= m) {
            __m128i acc = zero;
            for (int block = 0; block < 255 && i + 16 <= m; block++, i += 16)
                acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(d + i)),
                                                       _mm_loadu_si128((const __m128i *)(e + i))));
            __m128i sums = _mm_sad_epu8(acc, zero);
            count += _mm_cvtsi128_si32(sums) + _mm_cvtsi128_si32(_mm_srli_si128(sums, 8));
        }
#endif
        for (; i < m; i++) count += d[i] == e[i];
        out[L - 1] = count;
    }
}

/* --- ASCII lower case (sandbox/correlate/identifiers.py) ------------------------------------- */

/* out = bytes.lower(d): A-Z to a-z, every other byte as it is (SSE2: 16 bytes at a time). */
static void lower_ascii(const uint8_t *d, Py_ssize_t n, uint8_t *out) {
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    const __m128i before_a = _mm_set1_epi8('A' - 1), after_z = _mm_set1_epi8('Z' + 1), gap = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {     /* signed compares: bytes >= 0x80 are negative, never A-Z */
        __m128i x = _mm_loadu_si128((const __m128i *)(d + i));
        __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(x, before_a), _mm_cmplt_epi8(x, after_z));
        _mm_storeu_si128((__m128i *)(out + i), _mm_add_epi8(x, _mm_and_si128(upper, gap)));
    }
#endif
    for (; i < n; i++) out[i] = (uint8_t)(d[i] >= 'A' && d[i] <= 'Z' ? d[i] + 0x20 : d[i]);
}

/* --- first occurrences of a few magics (sandbox/decode/magic.py) ------------------------------ */
#define MAX_NEEDLES 16

/* The first offset >= start of each needle (-1: absent) in one pass over d, stopping once all are
   found.  SSE2 tests 16 positions at a time against every needle's first two bytes; a candidate is
   compared with the needles beginning with its byte.  Linear on any input: a flood of a needle's
   first bytes costs a short compare per byte. */
static void first_of(const uint8_t *d, Py_ssize_t n, Py_ssize_t start, const uint8_t *const *needles,
                     const Py_ssize_t *lens, int count, int64_t *out) {
    uint16_t begins[256] = {0};      /* bit i: needle i begins with this byte */
    int nfirst = 0, missing = 0;     /* nfirst: the distinct first bytes */
    for (int i = 0; i < count; i++) {
        out[i] = -1;
        if (lens[i] == 0) { out[i] = start <= n ? start : -1; continue; }
        missing |= 1 << i;
        uint8_t b = needles[i][0];
        nfirst += !begins[b];
        begins[b] |= (uint16_t)(1 << i);
    }
    Py_ssize_t i = start;
#define CHECK_AT(pos)                                                                              \
    do {                                                                                           \
        int cand = begins[d[pos]] & missing;                                                       \
        while (cand) {                                                                             \
            int k = __builtin_ctz(cand);                                                           \
            cand &= cand - 1;                                                                      \
            if ((pos) + lens[k] <= n && memcmp(d + (pos), needles[k], (size_t)lens[k]) == 0) {     \
                out[k] = (pos);                                                                    \
                missing &= ~(1 << k);                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)
#if defined(__SSE2__)
    /* each needle's first two bytes compared at once (the block and the block one byte on): on
       random bytes a candidate is 1 position in 65536 per needle, not 1 in 256 */
    __m128i first[MAX_NEEDLES], second[MAX_NEEDLES];
    int paired = 1;
    for (int k = 0; k < count; k++) {
        paired &= lens[k] >= 2;
        first[k] = _mm_set1_epi8((char)needles[k][0]);
        second[k] = _mm_set1_epi8((char)(lens[k] >= 2 ? needles[k][1] : 0));
    }
    if (!paired) nfirst = 0;        /* a one-byte needle: the scalar loop below */
    for (; missing && nfirst && i + 17 <= n; i += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(d + i));
        __m128i next = _mm_loadu_si128((const __m128i *)(d + i + 1));
        __m128i hit = _mm_setzero_si128();
        for (int k = 0; k < count; k++)
            if (missing & (1 << k))
                hit = _mm_or_si128(hit, _mm_and_si128(_mm_cmpeq_epi8(block, first[k]),
                                                      _mm_cmpeq_epi8(next, second[k])));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        while (mask && missing) {
            Py_ssize_t pos = i + __builtin_ctz(mask);
            mask &= mask - 1;
            CHECK_AT(pos);
        }
    }
#endif
    for (; missing && i < n; i++) CHECK_AT(i);
#undef CHECK_AT
}

/* A C-contiguous buffer of ``itemsize``-byte items (bytes: 1), writable if asked. */
/* --- runs of an alphabet (sandbox/decode/text.py) --------------------------------------------- */

/* Maximal runs of bytes whose class (table[byte]) is non-zero, at least min_len long and whose OR
   of classes holds every bit of need, from *at on: (start, end, OR) triples into out, at most cap;
   returns how many, and in *at where the scan stopped (n when done, else the end of the last run
   given: a run ends at a byte outside the alphabet, so the scan resumes there). */
static Py_ssize_t class_runs(const uint8_t *d, Py_ssize_t n, const uint8_t *table, Py_ssize_t min_len,
                             int need, int64_t *out, Py_ssize_t cap, Py_ssize_t *at) {
    Py_ssize_t count = 0, done = *at;  /* d[..done) is decided; d[done - 1] is outside the alphabet */
    /* Any run of >= min_len from ``done`` on holds one of done + min_len - 1, done + 2 min_len - 1,
       ...: only those bytes are read until one is inside (text between runs is skipped). */
    while (count < cap) {
        Py_ssize_t probe = done + min_len - 1;
        if (probe >= n) {
            done = n;
            break;
        }
        if (!table[d[probe]]) {
            done = probe + 1;
            continue;
        }
        Py_ssize_t s = probe, i = probe + 1;
        while (s > done && table[d[s - 1]]) s--;
        int bits = 0;
        for (Py_ssize_t j = s; j <= probe; j++) bits |= table[d[j]];
        while (i < n && table[d[i]]) bits |= table[d[i++]];
        done = i;
        if (i - s >= min_len && (bits & need) == need) {
            out[3 * count] = s;
            out[3 * count + 1] = i;
            out[3 * count + 2] = bits;
            count++;
        }
    }
    *at = done;
    return count;
}

/* --- numbers beside alleles (sandbox/correlate/variants.py) ---------------------------------- */

#define ALLELE_SIDE 3          /* allele tokens kept on each side of a number, nearest first */
#define ALLELE_EXACT 19        /* letters a token's value holds exactly (3 bits each, then its length) */
#define ALLELE_MAX 64          /* a longer letter run is no allele */
#define NUMBER_MIN 2           /* digits of a number: 1-digit ones are in any byte stream */
#define NUMBER_MAX 9
#define WINDOW_MAX 1024        /* bytes between a number and its farthest token */
#define SPARSE_NUMBERS 48      /* numbers in a range up to which each one's tokens are looked for alone */
#define FNV_OFFSET UINT64_C(0xCBF29CE484222325)
#define FNV_PRIME UINT64_C(0x100000001B3)

static uint8_t ALLELE[256];    /* A C G T N (either case) -> 1..5, other letters 8, digits 16, else 0 */
static uint8_t BESIDE[256];    /* what may stand beside a number: text that is no letter or digit, NUL */
#define IS_DIGIT(c) (ALLELE[c] == 16)
#define IS_ALNUM(c) (ALLELE[c] != 0)
#define IS_LETTER(c) (ALLELE[c] != 0 && ALLELE[c] != 16)

/* An allele token's value (sandbox/index/variants.py ``allele_value`` defines it): its codes,
   3 bits a letter, first letter highest, and its length above bit 57; a token longer than
   ALLELE_EXACT is its length field 31 and a 57-bit FNV-1a hash of its codes. */
static inline uint64_t allele_value(const uint8_t *d, Py_ssize_t s, Py_ssize_t e) {
    Py_ssize_t len = e - s;
    if (len <= ALLELE_EXACT) {
        uint64_t v = 0;
        for (Py_ssize_t i = s; i < e; i++) v = (v << 3) | ALLELE[d[i]];
        return ((uint64_t)len << 57) | v;
    }
    uint64_t h = FNV_OFFSET;
    for (Py_ssize_t i = s; i < e; i++) h = (h ^ ALLELE[d[i]]) * FNV_PRIME;
    return (UINT64_C(31) << 57) | (h & ((UINT64_C(1) << 57) - 1));
}

typedef struct {
    Py_ssize_t start, end;
    uint64_t value;
} Token;

#if defined(__SSE2__)
/* Byte classes of 16 bytes as masks (0xFF where the class holds), for the loops that skip 16 bytes
   at a time.  Signed compares: bytes are offset by 0x80 to compare as unsigned. */
static INLINE __m128i in_range16(__m128i v, char lo, char hi) {
    const __m128i flip = _mm_set1_epi8((char)0x80);
    __m128i f = _mm_xor_si128(v, flip);
    return _mm_and_si128(_mm_cmpgt_epi8(f, _mm_set1_epi8((char)((lo - 1) ^ 0x80))),
                         _mm_cmplt_epi8(f, _mm_set1_epi8((char)((hi + 1) ^ 0x80))));
}

static INLINE __m128i digits16(__m128i v) { return in_range16(v, '0', '9'); }

static INLINE __m128i letters16_mask(__m128i v) { return in_range16(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z'); }

/* Text (printable ASCII, tab, LF, CR) or NUL: what may stand beside a token or a number. */
static INLINE __m128i text_or_nul16(__m128i v) {
    return _mm_or_si128(_mm_or_si128(in_range16(v, 0x20, 0x7E), _mm_cmpeq_epi8(v, _mm_setzero_si128())),
                        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                     _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
                                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')))));
}

/* A, C, G, T or N, either case. */
static INLINE __m128i alleles16(__m128i v) {
    __m128i x = _mm_or_si128(v, _mm_set1_epi8(0x20));
    return _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('a')), _mm_cmpeq_epi8(x, _mm_set1_epi8('c'))),
                        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('g')),
                                                  _mm_cmpeq_epi8(x, _mm_set1_epi8('t'))),
                                     _mm_cmpeq_epi8(x, _mm_set1_epi8('n'))));
}
#endif

/* The allele tokens of d[from..to) (from at a run boundary) into out: runs of allele letters with
   text that is no letter or digit (or NUL, or the data's ends) on either side, save that a digit
   may come before (8216712A>G); returns how many.  SSE2 skips
   16 bytes where no such run can begin (most words, most binary bytes). */
static Py_ssize_t allele_tokens(const uint8_t *d, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to, Token *out) {
    Py_ssize_t i = from, count = 0;
    while (i < to) {
#if defined(__SSE2__)
        if (i > 0 && i + 17 <= n) {
            __m128i w = _mm_loadu_si128((const __m128i *)(d + i - 1));
            __m128i x = _mm_loadu_si128((const __m128i *)(d + i));
            __m128i y = _mm_loadu_si128((const __m128i *)(d + i + 1));
            /* before the first letter: text that is no letter (binary bytes are no token's neighbours) */
            __m128i before_ok = _mm_andnot_si128(letters16_mask(w), text_or_nul16(w));
            /* after it: another allele letter, or text that is no letter or digit */
            __m128i after_ok = _mm_or_si128(alleles16(y), _mm_andnot_si128(_mm_or_si128(letters16_mask(y), digits16(y)),
                                                                           text_or_nul16(y)));
            unsigned starts = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_and_si128(before_ok, after_ok), alleles16(x)));
            if (!starts) {
                i += 16;
                continue;
            }
            i += __builtin_ctz(starts);
            if (i >= to) break;
        }
#endif
        uint8_t c = d[i];
        if (!IS_LETTER(c) || (i > 0 && !BESIDE[d[i - 1]] && !IS_DIGIT(d[i - 1]))) {
            i++;
            continue;
        }
        Py_ssize_t j = i + 1;
        int allele = ALLELE[c] <= 5;
        while (j < n && IS_LETTER(d[j]) && j - i <= ALLELE_MAX) allele &= ALLELE[d[j++]] <= 5;
        if (j - i > ALLELE_MAX) {
            allele = 0;
            while (j < to && IS_LETTER(d[j])) j++;
        }
        if (allele && (j == n || BESIDE[d[j]])) {
            out[count].start = i;
            out[count].end = j;
            out[count++].value = allele_value(d, i, j);
        }
        i = j;
    }
    return count;
}

static INLINE uint64_t number_value(const uint8_t *d, Py_ssize_t i, Py_ssize_t j) {
    uint64_t v = 0;
    for (Py_ssize_t q = i; q < j; q++) v = v * 10 + (uint64_t)(d[q] - '0');
    return v;
}

/* The end of the number of 2..NUMBER_MAX digits at d[i] (with a byte beside it on either side, or
   an allele token after it: g.8216712A>G), else 0. */
static INLINE Py_ssize_t number_at(const uint8_t *d, Py_ssize_t n, Py_ssize_t i) {
    if (!IS_DIGIT(d[i]) || i + 1 >= n || !IS_DIGIT(d[i + 1]) || (i > 0 && !BESIDE[d[i - 1]])) return 0;
    Py_ssize_t j = i + 2;
    while (j < n && IS_DIGIT(d[j]) && j - i <= NUMBER_MAX) j++;
    if (j - i > NUMBER_MAX) return 0;
    Py_ssize_t after = j;
    while (after < n && ALLELE[d[after]] && ALLELE[d[after]] <= 5 && after - j <= ALLELE_MAX) after++;
    return after == n || BESIDE[d[after]] ? j : 0;
}

#ifdef HAVE_AVX512_PROBE
/* The first i in [from, to) where a number may start, 64 starts at a time (AVX-512BW: the CPU is
   asked at load); it needs d[i-1..i+65). */
__attribute__((target("avx512f,avx512bw,bmi"))) static Py_ssize_t
number_probe_avx512(const uint8_t *d, Py_ssize_t n, Py_ssize_t i, Py_ssize_t to) {
    const __m512i zero = _mm512_set1_epi8('0'), ten = _mm512_set1_epi8(10);
    const __m512i lower = _mm512_set1_epi8(0x20), a = _mm512_set1_epi8('a'), letters = _mm512_set1_epi8(26);
    for (; i < to && i + 65 <= n; i += 64) {
        __m512i w = _mm512_loadu_si512((const void *)(d + i - 1));
        __m512i x = _mm512_loadu_si512((const void *)(d + i));
        __m512i y = _mm512_loadu_si512((const void *)(d + i + 1));
        __mmask64 digit_x = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(x, zero), ten);
        __mmask64 digit_y = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(y, zero), ten);
        __mmask64 alnum_w = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(w, zero), ten)
                            | _mm512_cmplt_epu8_mask(_mm512_sub_epi8(_mm512_or_si512(w, lower), a), letters);
        uint64_t starts = digit_x & digit_y & ~alnum_w;
        if (starts) {
            i += (Py_ssize_t)_tzcnt_u64(starts);
            return i < to ? i : to;
        }
    }
    return i;
}
#endif

/* The first i in [from, to) where a number may start (two digits after a byte that is no letter or
   digit), else to: 64 starts at a time are ruled out, then 16 (SSE2). */
static INLINE Py_ssize_t number_probe(const uint8_t *d, Py_ssize_t n, Py_ssize_t i, Py_ssize_t to) {
    if (i == 0 && to > 0) {
        if (IS_DIGIT(d[0]) && n > 1 && IS_DIGIT(d[1])) return 0;
        i = 1;
    }
#ifdef HAVE_AVX512_PROBE
    if (avx512_probe) {
        i = number_probe_avx512(d, n, i, to);
        if (i >= to || i + 65 <= n) return i < to ? i : to;
    }
#endif
#if defined(__SSE2__)
    for (; i < to && i + 17 <= n; i += 16) {
        __m128i w = _mm_loadu_si128((const __m128i *)(d + i - 1));
        __m128i alnum_w = _mm_or_si128(digits16(w), letters16_mask(w));
        __m128i dx = digits16(_mm_loadu_si128((const __m128i *)(d + i)));
        __m128i dy = digits16(_mm_loadu_si128((const __m128i *)(d + i + 1)));
        unsigned pairs = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(alnum_w, _mm_and_si128(dx, dy)));
        if (pairs) {
            i += __builtin_ctz(pairs);
            return i < to ? i : to;
        }
    }
#endif
    for (; i < to; i++)
        if (IS_DIGIT(d[i]) && i + 1 < n && IS_DIGIT(d[i + 1]) && (i == 0 || !IS_ALNUM(d[i - 1]))) return i;
    return to;
}

/* Give the number d[i..j) with the tokens beside it (tok[k..] are the ones after it). */
static INLINE void number_emit(const uint8_t *d, Py_ssize_t i, Py_ssize_t j, const Token *tok, Py_ssize_t nt,
                               Py_ssize_t k, Py_ssize_t window, int64_t *spans, uint64_t *values,
                               uint64_t *tokens, Py_ssize_t count) {
    uint64_t *slot = tokens + 2 * ALLELE_SIDE * count;
    memset(slot, 0, sizeof(uint64_t) * 2 * ALLELE_SIDE);
    for (int t = 0; t < ALLELE_SIDE && k + t < nt && tok[k + t].start - j <= window; t++)
        slot[ALLELE_SIDE + t] = tok[k + t].value;
    for (int t = 0; t < ALLELE_SIDE && k - 1 - t >= 0 && i - tok[k - 1 - t].end <= window; t++)
        slot[t] = tok[k - 1 - t].value;
    spans[2 * count] = i;
    spans[2 * count + 1] = j;
    values[count] = number_value(d, i, j);
}

/* Whether a number with these tokens beside it (tok[k..] after it) can be a variant's position
   with its alleles: two neighbouring tokens within its windows differ, or one has two letters. */
static INLINE int number_worth(Py_ssize_t i, Py_ssize_t j, const Token *tok, Py_ssize_t nt, Py_ssize_t k,
                               Py_ssize_t window) {
    Py_ssize_t first = k, last = k;    /* tok[first..last): the tokens within its windows */
    while (first > 0 && k - first < ALLELE_SIDE && i - tok[first - 1].end <= window) first--;
    while (last < nt && last - k < ALLELE_SIDE && tok[last].start - j <= window) last++;
    for (Py_ssize_t t = first; t < last; t++)
        if ((tok[t].value >> 57) == 2 || (t > first && tok[t].value != tok[t - 1].value)) return 1;
    return 0;
}

/* Numbers of NUMBER_MIN..NUMBER_MAX digits starting in [emit_lo, emit_hi), with text that is no
   letter or digit (or NUL, or the data's ends) on either side, save that an allele token may
   follow (HGVS: g.8216712A>G); each with the allele tokens beside it: runs of ASCII letters all
   of ACGTN (either case), at most ALLELE_MAX long, with text that is no letter or digit (or NUL,
   or the data's ends) on either side (a digit may come before), ending at most ``window`` bytes
   before the number or starting at most ``window`` bytes after it, ALLELE_SIDE on each side,
   nearest first.  Only numbers whose tokens differ, or with a two-letter one, can be a variant's
   position with its alleles, and only those are given.  Where numbers are few (binary data), the
   tokens are looked for beside each; where they are many (text), the tokens are found first and
   numbers only around tokens that differ.  Returns how many numbers (at most cap: enough for one
   every three bytes), or -1 when out of memory.  At most window + ALLELE_MAX + 16 bytes beyond
   each end of the range are read, so callers cut a long view into ranges and the work stays
   linear. */
typedef struct {
    const uint8_t *bloom;      /* of the run's positions (none: every number passes) */
    int bits;
    const uint64_t *offsets;   /* a number passes when one of these added to it may be a position */
    Py_ssize_t count;
} PositionFilter;

static INLINE int may_be_position(const PositionFilter *f, uint64_t value) {
    if (f->bloom == NULL) return 1;
    for (Py_ssize_t o = 0; o < f->count; o++) {
        uint64_t slot = ((value + f->offsets[o]) * BUCKET_MUL) >> (64 - f->bits);
        if ((f->bloom[slot >> 3] >> (slot & 7)) & 1) return 1;
    }
    return 0;
}

/* Whether tokens make a column of alleles: at least ``least`` one-letter ones, three of A, C, G, T a
   tenth of them or more (prose has its "a"; a key "t" stays one letter). */
static int allele_column(const Token *tok, Py_ssize_t nt, Py_ssize_t least) {
    Py_ssize_t letters[8] = {0}, single = 0, common = 0;
    for (Py_ssize_t t = 0; t < nt; t++)
        if (tok[t].value >> 57 == 1) {
            letters[tok[t].value & 7]++;
            single++;
        }
    for (int c = 1; c <= 4; c++) common += letters[c] * 10 >= single;
    return least > 0 && single >= least && common >= 3;
}

/* ``numbered_alleles``'s other output: where the range's tokens make a column of alleles, every
   number in [emit_lo, emit_hi) that ``filter`` lets pass (a table written column by column, as
   pandas' to_json does, puts the positions in one list and the alleles in others, far apart). */
static Py_ssize_t listed_numbers(const uint8_t *d, Py_ssize_t n, Py_ssize_t emit_lo, Py_ssize_t emit_hi,
                                 const PositionFilter *filter, uint64_t *listed, Py_ssize_t cap) {
    Py_ssize_t count = 0;
    for (Py_ssize_t i = number_probe(d, n, emit_lo, emit_hi); i < emit_hi && count < cap;
         i = number_probe(d, n, i + 1, emit_hi)) {
        Py_ssize_t j = number_at(d, n, i);
        if (!j) continue;
        uint64_t v = number_value(d, i, j);
        if (may_be_position(filter, v)) listed[count++] = v;
        i = j - 1;
    }
    return count;
}

static Py_ssize_t numbered_alleles(const uint8_t *d, Py_ssize_t n, Py_ssize_t emit_lo, Py_ssize_t emit_hi,
                                   Py_ssize_t window, const PositionFilter *filter, int64_t *spans,
                                   uint64_t *values, uint64_t *tokens, Py_ssize_t cap, Py_ssize_t column,
                                   uint64_t *listed, Py_ssize_t *listed_count) {
    *listed_count = 0;
    Py_ssize_t margin = window + ALLELE_MAX + 16;
    Py_ssize_t lo = emit_lo > margin ? emit_lo - margin : 0;
    Py_ssize_t hi = emit_hi + margin < n ? emit_hi + margin : n;
    if (lo > 0 && IS_LETTER(d[lo - 1]))      /* a run begun before lo: too far back to matter */
        while (lo < hi && IS_LETTER(d[lo])) lo++;
    Py_ssize_t count = 0, few = 0, at[SPARSE_NUMBERS][2];
    for (Py_ssize_t i = number_probe(d, n, emit_lo, emit_hi); i < emit_hi; i = number_probe(d, n, i + 1, emit_hi)) {
        Py_ssize_t j = number_at(d, n, i);
        if (!j || !may_be_position(filter, number_value(d, i, j))) continue;
        if (few == SPARSE_NUMBERS) {
            few = -1;
            break;
        }
        at[few][0] = i;
        at[few++][1] = j;
        i = j - 1;
    }
    if (few >= 0 && column > 0 && few >= column) {    /* enough numbers for a column: are there alleles? */
        Token *all = malloc(sizeof(Token) * (size_t)((hi - lo) / 2 + 1));
        if (all == NULL) return -1;
        if (allele_column(all, allele_tokens(d, n, lo, hi, all), column))
            for (Py_ssize_t x = 0; x < few; x++) listed[(*listed_count)++] = number_value(d, at[x][0], at[x][1]);
        free(all);
    }
    if (few >= 0) {   /* few numbers (binary data): the tokens beside each (a token takes two bytes) */
        Token tok[(2 * (WINDOW_MAX + ALLELE_MAX + 16) + NUMBER_MAX) / 2 + 1];
        for (Py_ssize_t x = 0; x < few && count < cap; x++) {
            Py_ssize_t i = at[x][0], j = at[x][1];
            Py_ssize_t from = i - margin > lo ? i - margin : lo, to = j + margin < hi ? j + margin : hi;
            while (from > lo && from < i && IS_LETTER(d[from - 1])) from++;
            Py_ssize_t nt = allele_tokens(d, n, from, to, tok), k = 0;
            while (k < nt && tok[k].start < j) k++;
            if (number_worth(i, j, tok, nt, k, window))
                number_emit(d, i, j, tok, nt, k, window, spans, values, tokens, count++);
        }
        return count;
    }
    Token *tok = malloc(sizeof(Token) * (size_t)((hi - lo) / 2 + 1));
    if (tok == NULL) return -1;
    Py_ssize_t nt = allele_tokens(d, n, lo, hi, tok), k = 0;
    if (allele_column(tok, nt, column)) *listed_count = listed_numbers(d, n, emit_lo, emit_hi, filter, listed, cap);
    Py_ssize_t zone_end = emit_lo;     /* numbers are looked for in d[emit_lo..zone_end) only */
    for (Py_ssize_t z = 0; z < nt; z++) {
        int differs = z + 1 < nt && tok[z + 1].value != tok[z].value
                      && tok[z + 1].start - tok[z].end <= 2 * window + NUMBER_MAX;
        if (!differs && (tok[z].value >> 57) != 2) continue;
        /* numbers within a window of both (or of the two-letter one) */
        Py_ssize_t from = tok[z].start - window - NUMBER_MAX, to = (differs ? tok[z + 1].end : tok[z].end) + window + 1;
        if (from < zone_end) from = zone_end;
        if (to > emit_hi) to = emit_hi;
        for (Py_ssize_t i = number_probe(d, n, from, to); i < to && count < cap; i = number_probe(d, n, i + 1, to)) {
            Py_ssize_t j = number_at(d, n, i);
            if (!j || !may_be_position(filter, number_value(d, i, j))) continue;
            while (k < nt && tok[k].start < j) k++;     /* tok[k..]: the tokens after the number */
            if (number_worth(i, j, tok, nt, k, window))
                number_emit(d, i, j, tok, nt, k, window, spans, values, tokens, count++);
            i = j - 1;
        }
        if (to > zone_end) zone_end = to;
    }
    free(tok);
    return count;
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes expected, got %zd", what, itemsize, view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

#define ITEMS(v) ((v).len / (v).itemsize)

static void release(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++) PyBuffer_Release(&views[i]);
}

PyDoc_STRVAR(winnow_doc,
"winnow(data, hashes, positions) -> count\n\n"
"Fingerprints of one pass (len(data) < 2**20): the chosen k-gram hashes (uint64) and their\n"
"positions (int64) are written to the arrays; returns how many there are (if more than the\n"
"arrays hold, only the first fit: call again with larger arrays).");

static PyObject *py_winnow(PyObject *self, PyObject *args) {
    PyObject *o[3];
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOO:winnow", &o[0], &o[1], &o[2])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "hashes") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 1, "positions") < 0) { release(v, 2); return NULL; }
    if (v[0].len >= (Py_ssize_t)1 << POS_BITS) {
        release(v, 3);
        PyErr_SetString(PyExc_ValueError, "winnow: a pass holds fewer than 2**20 bytes");
        return NULL;
    }
    Py_ssize_t cap = ITEMS(v[1]) < ITEMS(v[2]) ? ITEMS(v[1]) : ITEMS(v[2]);
    Py_ssize_t count;
    int nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    count = winnow_pass(v[0].buf, v[0].len, v[1].buf, v[2].buf, cap, &nomem);
    Py_END_ALLOW_THREADS
    release(v, 3);
    if (nomem) return PyErr_NoMemory();
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(kgram_hashes_doc,
"kgram_hashes(data, out) -> None\n\nThe hash of every K-byte k-gram of data (out: len(data) - K + 1 uint64).");

static PyObject *py_kgram_hashes(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO:kgram_hashes", &o[0], &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    Py_ssize_t m = v[0].len - K + 1;
    if (ITEMS(v[1]) != (m > 0 ? m : 0)) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "kgram_hashes: out must hold len(data) - K + 1 items");
        return NULL;
    }
    const uint8_t *b = v[0].buf;
    uint64_t *out = v[1].buf;
    Py_BEGIN_ALLOW_THREADS
    if (m > 0) {
        uint64_t h = kgram_poly(b);
        for (Py_ssize_t i = 0; i < m; i++) {
            out[i] = kgram_mix(h);
            if (i + 1 < m) h = (h - b[i]) * INV_BASE + TOP[b[i + K]];
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(low_info_doc,
"low_info(data, out) -> None\n\nThe low-information mask of every k-gram (out: len(data) - K + 1 bytes, 1 = low).");

static PyObject *py_low_info(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO:low_info", &o[0], &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    Py_ssize_t m = v[0].len - K + 1;
    if (ITEMS(v[1]) != (m > 0 ? m : 0)) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "low_info: out must hold len(data) - K + 1 items");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    if (m > 0) low_info_range(v[0].buf, v[0].len, 0, m, v[1].buf);
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(canonical_doc,
"canonical(seq, k, kmers, starts) -> count\n\n"
"Canonical 2-bit k-mers of every window of seq made only of ACGT (either case): min(forward,\n"
"reverse complement) into kmers (uint64) and the window offsets into starts (int64); both must\n"
"hold len(seq) - k + 1 items (starts may be empty: offsets not wanted).");

static PyObject *py_canonical(PyObject *self, PyObject *args) {
    PyObject *o[3];
    int k;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OiOO:canonical", &o[0], &k, &o[1], &o[2])) return NULL;
    if (k < 1 || k > 32) {
        PyErr_SetString(PyExc_ValueError, "canonical: k must be 1..32");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "seq") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "kmers") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 1, "starts") < 0) { release(v, 2); return NULL; }
    Py_ssize_t windows = v[0].len - k + 1;
    if (windows < 0) windows = 0;
    if (ITEMS(v[1]) < windows || (ITEMS(v[2]) != 0 && ITEMS(v[2]) < windows)) {
        release(v, 3);
        PyErr_SetString(PyExc_ValueError, "canonical: kmers and starts must hold len(seq) - k + 1 items");
        return NULL;
    }
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    if (windows > 0) count = canonical_kmers(v[0].buf, v[0].len, k, v[1].buf, ITEMS(v[2]) ? v[2].buf : NULL);
    Py_END_ALLOW_THREADS
    release(v, 3);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(canonical_at_doc,
"canonical_at(seq, k, stride, kmers) -> count\n\n"
"Canonical 2-bit k-mers of the windows of seq starting at 0, stride, 2 * stride, ... that are made\n"
"only of ACGT (either case), packed afresh at each: kmers (uint64) must hold (len(seq) - k) //\n"
"stride + 1 items.  Asking a few k-mers of a long sequence costs what they cost, not a pass.");

static PyObject *py_canonical_at(PyObject *self, PyObject *args) {
    PyObject *o[2];
    int k;
    Py_ssize_t stride;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OinO:canonical_at", &o[0], &k, &stride, &o[1])) return NULL;
    if (k < 1 || k > 32 || stride < 1) {
        PyErr_SetString(PyExc_ValueError, "canonical_at: k must be 1..32, stride positive");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "seq") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "kmers") < 0) { release(v, 1); return NULL; }
    Py_ssize_t n = v[0].len, windows = n >= k ? (n - k) / stride + 1 : 0;
    if (ITEMS(v[1]) < windows) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "canonical_at: kmers must hold (len(seq) - k) // stride + 1 items");
        return NULL;
    }
    const uint8_t *seq = v[0].buf;
    uint64_t *out = v[1].buf;
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t w = 0; w < windows; w++) {
        const uint8_t *at = seq + w * stride;
        uint64_t fwd = 0, rev = 0;
        unsigned bad = 0;
        for (int i = 0; i < k; i++) {
            uint8_t c = CODE[at[i]];
            bad |= c >> 2;
            fwd = (fwd << 2) | (c & 3);
            rev |= (uint64_t)(3 - (c & 3)) << (2 * i);
        }
        out[count] = fwd < rev ? fwd : rev;
        count += !bad;
    }
    Py_END_ALLOW_THREADS
    release(v, 2);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(dna_runs_doc,
"dna_runs(data, k, joined, runs) -> (count, joined_len)\n\n"
"Runs of ACGTN letters (either case) whose first line holds >= k of them, continued over line\n"
"breaks, written to joined (uint8, >= len(data) + len(data) // k items) with an N between runs;\n"
"per run (view offset, joined offset, length) to runs (int64, >= 3 * (len(data) // k + 1) items).");

static PyObject *py_dna_runs(PyObject *self, PyObject *args) {
    PyObject *o[3];
    int k;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OiOO:dna_runs", &o[0], &k, &o[1], &o[2])) return NULL;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "dna_runs: k must be positive");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "joined") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 1, "runs") < 0) { release(v, 2); return NULL; }
    Py_ssize_t n = v[0].len;
    if (ITEMS(v[1]) < n + n / k || ITEMS(v[2]) < 3 * (n / k + 1)) {
        release(v, 3);
        PyErr_SetString(PyExc_ValueError, "dna_runs: joined or runs too small");
        return NULL;
    }
    Py_ssize_t count, joined_len;
    Py_BEGIN_ALLOW_THREADS
    count = find_dna_runs(v[0].buf, n, k, v[1].buf, &joined_len, v[2].buf);
    Py_END_ALLOW_THREADS
    release(v, 3);
    return Py_BuildValue("nn", count, joined_len);
}

PyDoc_STRVAR(symbol_runs_doc,
"symbol_runs(data, k, mode, joined, runs) -> (count, joined_len)\n\n"
"Runs of >= k symbols made of exactly four distinct ones (mode 0: bytes, letters in either case;\n"
"1: the same with NUL, white space and punctuation between them skipped, kept only when spaced:\n"
"a gap per 48 symbols; 2: half bytes, high first; 3: low first), not plain ACGT letters in mode 0,\n"
"each written to joined (uint8, >= 2 * len(data) + 2 * len(data) // k + 1 items) with its symbols\n"
"named A, C, G, T in their sorted order and an N between runs; per run (view offset, joined\n"
"offset, length, view end) to runs (int64, >= 4 * (2 * len(data) // k + 1) items).");

static PyObject *py_symbol_runs(PyObject *self, PyObject *args) {
    PyObject *o[3];
    int k, mode;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OiiOO:symbol_runs", &o[0], &k, &mode, &o[1], &o[2])) return NULL;
    if (k < 1 || mode < SYM_BYTES || mode > SYM_NIBBLES_LO) {
        PyErr_SetString(PyExc_ValueError, "symbol_runs: k must be positive, mode 0..3");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "joined") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 1, "runs") < 0) { release(v, 2); return NULL; }
    Py_ssize_t n = v[0].len;
    if (ITEMS(v[1]) < 2 * n + 2 * n / k + 1 || ITEMS(v[2]) < 4 * (2 * n / k + 1)) {
        release(v, 3);
        PyErr_SetString(PyExc_ValueError, "symbol_runs: joined or runs too small");
        return NULL;
    }
    Py_ssize_t count, joined_len;
    Py_BEGIN_ALLOW_THREADS
    count = find_symbol_runs(v[0].buf, n, k, mode, v[1].buf, &joined_len, v[2].buf);
    Py_END_ALLOW_THREADS
    release(v, 3);
    return Py_BuildValue("nn", count, joined_len);
}

/* A byte as it is, and with its four two-bit symbols in reverse order (bases packed low bits first,
   read as if high bits first): filled at import. */
static uint8_t IDENTITY_BYTES[256], REVERSED_PAIRS[256];

static void init_pair_tables(void) {
    for (int b = 0; b < 256; b++) {
        IDENTITY_BYTES[b] = (uint8_t)b;
        REVERSED_PAIRS[b] = (uint8_t)((b & 3) << 6 | (b >> 2 & 3) << 4 | (b >> 4 & 3) << 2 | (b >> 6 & 3));
    }
}

PyDoc_STRVAR(two_bit_forms_doc,
"two_bit_forms(data, k, stride, orders, out) -> count\n\n"
"The reading-blind forms (``patterns``) of the k-mers at 0, stride, 2 * stride, ... of data read as\n"
"bases packed two bits each: orders 1, the high bits of a byte first; 2, the low; 3, both (the high\n"
"first's forms, then the low's).  out (uint64) must hold as many as there are k-mers in the orders\n"
"asked, ((4 * len(data) - k) // stride + 1 each).  A probe of a view for packed bases in one call.");

static PyObject *py_two_bit_forms(PyObject *self, PyObject *args) {
    PyObject *o[2];
    int k, orders;
    Py_ssize_t stride;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OiniO:two_bit_forms", &o[0], &k, &stride, &orders, &o[1])) return NULL;
    if (k < 1 || k > 32 || stride < 1 || orders < 1 || orders > 3) {
        PyErr_SetString(PyExc_ValueError, "two_bit_forms: k must be 1..32, stride positive, orders 1..3");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    Py_ssize_t symbols = 4 * v[0].len, windows = symbols >= k ? (symbols - k) / stride + 1 : 0;
    if (ITEMS(v[1]) < windows * ((orders & 1) + (orders >> 1))) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "two_bit_forms: out must hold the k-mers of every order asked");
        return NULL;
    }
    const uint8_t *d = v[0].buf;
    uint64_t *out = v[1].buf;
    Py_ssize_t count = 0, n = v[0].len;
    Py_BEGIN_ALLOW_THREADS
    for (int high = 1; high >= 0; high--) {
        if (!(orders & (high ? 1 : 2))) continue;
        /* the k-mer at symbol p is 2k bits from bit 2p of the bytes read high bits first (the low
           order's bytes with their four symbols reversed): nine bytes hold it, whatever p */
        const uint8_t *order = high ? IDENTITY_BYTES : REVERSED_PAIRS;
        for (Py_ssize_t w = 0; w < windows; w++) {
            Py_ssize_t p = w * stride, at = p >> 2;
            int off = 2 * (int)(p & 3);
            uint64_t word = 0;
            for (int i = 0; i < 8; i++) word = (word << 8) | (at + i < n ? order[d[at + i]] : 0);
            uint64_t next = at + 8 < n ? order[d[at + 8]] : 0;
            word = (word << off) | (off ? next >> (8 - off) : 0);
            out[count++] = kmer_pattern(word >> (64 - 2 * k), k);
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 2);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(patterns_doc,
"patterns(kmers, k, out) -> None\n\n"
"out[i] = the reading-blind form of 2-bit k-mer i (uint64): its bases renamed in their order of\n"
"first appearance, forwards and backwards, the smaller, mixed by splitmix64; equal for a k-mer\n"
"written in any four symbols, reversed or complemented.");

static PyObject *py_patterns(PyObject *self, PyObject *args) {
    PyObject *o[2];
    int k;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OiO:patterns", &o[0], &k, &o[1])) return NULL;
    if (k < 1 || k > 32) {
        PyErr_SetString(PyExc_ValueError, "patterns: k must be 1..32");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 8, 0, "kmers") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    if (ITEMS(v[1]) < ITEMS(v[0])) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "patterns: out must hold as many items as kmers");
        return NULL;
    }
    const uint64_t *in = v[0].buf;
    uint64_t *out = v[1].buf;
    Py_ssize_t n = ITEMS(v[0]);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) out[i] = kmer_pattern(in[i], k);
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(evidence_doc,
"evidence(kmers, k, entropy_low, adapters, out) -> None\n\n"
"out[i] = 1 when k-mer i may count as evidence: not near-periodic (period <= 6, <= 3 broken\n"
"bases), not of low base-composition entropy (entropy_low[(a*(k+1)+c)*(k+1)+g]), and not in the\n"
"sorted adapters table.");

static PyObject *py_evidence(PyObject *self, PyObject *args) {
    PyObject *o[4];
    int k;
    Py_buffer v[4];
    if (!PyArg_ParseTuple(args, "OiOOO:evidence", &o[0], &k, &o[1], &o[2], &o[3])) return NULL;
    if (k < 7 || k > 31) {
        PyErr_SetString(PyExc_ValueError, "evidence: k must be 7..31");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 8, 0, "kmers") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 0, "entropy_low") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 0, "adapters") < 0) { release(v, 2); return NULL; }
    if (get_buffer(o[3], &v[3], 1, 1, "out") < 0) { release(v, 3); return NULL; }
    if (ITEMS(v[3]) != ITEMS(v[0]) || ITEMS(v[1]) != (Py_ssize_t)(k + 1) * (k + 1) * (k + 1)) {
        release(v, 4);
        PyErr_SetString(PyExc_ValueError, "evidence: out must match kmers, entropy_low hold (k+1)**3 items");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    kmer_evidence(v[0].buf, ITEMS(v[0]), k, v[1].buf, v[2].buf, ITEMS(v[2]), v[3].buf);
    Py_END_ALLOW_THREADS
    release(v, 4);
    Py_RETURN_NONE;
}

static int get_directory(PyObject *table, PyObject *starts, int shift, Py_buffer *v, Directory *d) {
    if (get_buffer(table, &v[0], 8, 0, "table") < 0) return -1;
    if (get_buffer(starts, &v[1], 4, 0, "starts") < 0) { release(v, 1); return -1; }
    d->table = v[0].buf;
    d->rows = ITEMS(v[0]);
    d->starts = v[1].buf;
    d->buckets = ITEMS(v[1]) - 1;
    d->shift = shift;
    if (d->buckets < 1 || shift < 0 || shift > 63 || (Py_ssize_t)d->starts[d->buckets] != d->rows) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "directory: starts must be bucket starts ending with len(table)");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(union_doc,
"union(values, bounds, out, masks) -> count\n\n"
"The union of sorted distinct uint64 arrays given as values[bounds[i]:bounds[i+1]] (at most 64):\n"
"sorted distinct values into out, and into masks (if not empty) bit i set where part i holds the\n"
"value.  out and masks must hold len(values) items.");

static PyObject *py_union(PyObject *self, PyObject *args) {
    PyObject *o[4];
    Py_buffer v[4];
    if (!PyArg_ParseTuple(args, "OOOO:union", &o[0], &o[1], &o[2], &o[3])) return NULL;
    if (get_buffer(o[0], &v[0], 8, 0, "values") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 0, "bounds") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 1, "out") < 0) { release(v, 2); return NULL; }
    if (get_buffer(o[3], &v[3], 8, 1, "masks") < 0) { release(v, 3); return NULL; }
    Py_ssize_t n = ITEMS(v[0]), parts = ITEMS(v[1]) - 1;
    const int64_t *bounds = v[1].buf;
    int ok = parts >= 1 && parts <= MAX_PARTS && ITEMS(v[2]) >= n && (ITEMS(v[3]) == 0 || ITEMS(v[3]) >= n)
             && bounds[0] == 0 && bounds[parts] == n;
    for (Py_ssize_t i = 0; ok && i < parts; i++) ok = bounds[i] <= bounds[i + 1];
    if (!ok) {
        release(v, 4);
        PyErr_SetString(PyExc_ValueError, "union: 1..64 parts, bounds from 0 to len(values), out and masks as long");
        return NULL;
    }
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = union_sorted(v[0].buf, bounds, (int)parts, v[2].buf, ITEMS(v[3]) ? v[3].buf : NULL);
    Py_END_ALLOW_THREADS
    release(v, 4);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(merge_doc,
"merge(buf, lo, n, b) -> (lo, count)\n\n"
"The union of the sorted distinct uint64 runs buf[lo:lo+n] and b, sorted and distinct, in place\n"
"in buf (b must not overlap it): it lies at buf[lo:lo+count] after, at one end of buf.  buf needs\n"
"len(b) free slots before the run or after it (ValueError if not).");

static PyObject *py_merge(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    Py_ssize_t lo, n;
    if (!PyArg_ParseTuple(args, "OnnO:merge", &o[0], &lo, &n, &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 8, 1, "buf") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 0, "b") < 0) { release(v, 1); return NULL; }
    Py_ssize_t cap = ITEMS(v[0]), m = ITEMS(v[1]);
    const char *a0 = v[0].buf, *b0 = v[1].buf;
    int overlap = m > 0 && cap > 0 && b0 < a0 + v[0].len && a0 < b0 + v[1].len;
    if (lo < 0 || n < 0 || lo > cap - n || (lo < m && cap - lo - n < m) || overlap) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "merge: buf[lo:lo+n] in buf with len(b) free slots on one side; "
                        "b apart from buf");
        return NULL;
    }
    Py_ssize_t count, out_lo = 0;
    Py_BEGIN_ALLOW_THREADS
    count = merge_in_place(v[0].buf, cap, lo, n, v[1].buf, m, &out_lo);
    Py_END_ALLOW_THREADS
    release(v, 2);
    return Py_BuildValue("nn", out_lo, count);
}

PyDoc_STRVAR(sample_doc,
"sample(buf, lo, n, limit) -> count\n\n"
"The items of buf[lo:lo+n] (uint64) whose splitmix64 finaliser is at most limit, in order, moved\n"
"in place to buf[0:count] (FracMinHash sampling without a temporary array).");

static PyObject *py_sample(PyObject *self, PyObject *args) {
    PyObject *o;
    Py_buffer v;
    Py_ssize_t lo, n;
    unsigned long long limit;
    if (!PyArg_ParseTuple(args, "OnnK:sample", &o, &lo, &n, &limit)) return NULL;
    if (get_buffer(o, &v, 8, 1, "buf") < 0) return NULL;
    if (lo < 0 || n < 0 || lo > ITEMS(v) - n) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "sample: buf[lo:lo+n] must lie in buf");
        return NULL;
    }
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = sample_in_place(v.buf, lo, n, (uint64_t)limit);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(permute_doc,
"permute(values, order, seen)\n\n"
"values = values[order] in place (8-byte items; order a permutation of range(len(values)), int64;\n"
"seen: (len(values) + 7) // 8 zero bytes, used as a bitmap), without a second values array.");

static PyObject *py_permute(PyObject *self, PyObject *args) {
    PyObject *o[3];
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOO:permute", &o[0], &o[1], &o[2])) return NULL;
    if (get_buffer(o[0], &v[0], 8, 1, "values") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 0, "order") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 1, 1, "seen") < 0) { release(v, 2); return NULL; }
    Py_ssize_t n = ITEMS(v[0]);
    const int64_t *order = v[1].buf;
    const uint8_t *seen = v[2].buf;
    int ok = ITEMS(v[1]) == n && ITEMS(v[2]) == (n + 7) / 8;
    for (Py_ssize_t i = 0; ok && i < ITEMS(v[2]); i++) ok = seen[i] == 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) ok = order[i] >= 0 && order[i] < n;
    if (!ok) {
        release(v, 3);
        PyErr_SetString(PyExc_ValueError, "permute: order of len(values) indices in range, seen zeroed");
        return NULL;
    }
    int bad;
    Py_BEGIN_ALLOW_THREADS
    bad = permute_in_place(v[0].buf, order, n, v[2].buf);
    Py_END_ALLOW_THREADS
    release(v, 3);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "permute: order is not a permutation (values left scrambled)");
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(dedupe_doc,
"dedupe(values) -> count\n\nSorted uint64 values made distinct in place: the first count items.");

static PyObject *py_dedupe(PyObject *self, PyObject *args) {
    PyObject *o;
    Py_buffer v;
    if (!PyArg_ParseTuple(args, "O:dedupe", &o)) return NULL;
    if (get_buffer(o, &v, 8, 1, "values") < 0) return NULL;
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = dedupe_sorted(v.buf, ITEMS(v));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(lookup_doc,
"lookup(table, starts, shift, bloom, bloom_bits, queries, found, rows) -> count\n\n"
"For sorted unique table with its bucket directory (starts: uint32, bucket = key >> shift) and\n"
"one-hash Bloom bitmap: found[i] = 1 when queries[i] is in the table; the rows of the found\n"
"ones, in query order, go to rows (int64, as many as queries).  Returns how many were found.");

static PyObject *py_lookup(PyObject *self, PyObject *args) {
    PyObject *table, *starts, *bloom, *queries, *found, *rows;
    int shift, bloom_bits;
    Py_buffer v[6];
    Directory d;
    if (!PyArg_ParseTuple(args, "OOiOiOOO:lookup", &table, &starts, &shift, &bloom, &bloom_bits, &queries,
                          &found, &rows)) return NULL;
    if (get_directory(table, starts, shift, v, &d) < 0) return NULL;
    if (get_buffer(bloom, &v[2], 1, 0, "bloom") < 0) { release(v, 2); return NULL; }
    if (get_buffer(queries, &v[3], 8, 0, "queries") < 0) { release(v, 3); return NULL; }
    if (get_buffer(found, &v[4], 1, 1, "found") < 0) { release(v, 4); return NULL; }
    if (get_buffer(rows, &v[5], 8, 1, "rows") < 0) { release(v, 5); return NULL; }
    Py_ssize_t n = ITEMS(v[3]);
    if (bloom_bits < 3 || bloom_bits > 40 || ITEMS(v[2]) * 8 < ((Py_ssize_t)1 << bloom_bits)
        || ITEMS(v[4]) != n || ITEMS(v[5]) < n) {
        release(v, 6);
        PyErr_SetString(PyExc_ValueError, "lookup: bloom, found or rows of the wrong size");
        return NULL;
    }
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = lookup_rows(&d, v[2].buf, bloom_bits, v[3].buf, n, v[4].buf, v[5].buf);
    Py_END_ALLOW_THREADS
    release(v, 6);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(bloom_doc,
"bloom(kmers, bits, out) -> None\n\n"
"Set the bitmap bit (out: 2**bits / 8 bytes, little-endian within bytes) of every k-mer's bucket,\n"
"the top bits of k-mer * 0x9E3779B97F4A7C15, as lookup() tests them.");

static PyObject *py_bloom(PyObject *self, PyObject *args) {
    PyObject *o[2];
    int bits;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OiO:bloom", &o[0], &bits, &o[1])) return NULL;
    if (bits < 3 || bits > 40) {
        PyErr_SetString(PyExc_ValueError, "bloom: bits must be 3..40");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 8, 0, "kmers") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    if (ITEMS(v[1]) * 8 != ((Py_ssize_t)1 << bits)) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "bloom: out must hold 2**bits / 8 bytes");
        return NULL;
    }
    const uint64_t *k = v[0].buf;
    uint8_t *out = v[1].buf;
    Py_ssize_t n = ITEMS(v[0]);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t slot = (k[i] * BUCKET_MUL) >> (64 - bits);
        out[slot >> 3] |= (uint8_t)(1u << (slot & 7));
    }
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(ranges_doc,
"ranges(table, starts, shift, bloom, bloom_bits, queries, hit, lo, hi) -> count\n\n"
"For a sorted table (duplicates allowed) with its bucket directory and Bloom bitmap: for every\n"
"query present, its index (hit) and the rows [lo, hi) holding it, all int64 arrays as long as\n"
"queries.");

static PyObject *py_ranges(PyObject *self, PyObject *args) {
    PyObject *table, *starts, *bloom, *queries, *hit, *lo, *hi;
    int shift, bloom_bits;
    Py_buffer v[7];
    Directory d;
    if (!PyArg_ParseTuple(args, "OOiOiOOOO:ranges", &table, &starts, &shift, &bloom, &bloom_bits, &queries, &hit,
                          &lo, &hi)) return NULL;
    if (get_directory(table, starts, shift, v, &d) < 0) return NULL;
    if (get_buffer(bloom, &v[2], 1, 0, "bloom") < 0) { release(v, 2); return NULL; }
    if (get_buffer(queries, &v[3], 8, 0, "queries") < 0) { release(v, 3); return NULL; }
    if (get_buffer(hit, &v[4], 8, 1, "hit") < 0) { release(v, 4); return NULL; }
    if (get_buffer(lo, &v[5], 8, 1, "lo") < 0) { release(v, 5); return NULL; }
    if (get_buffer(hi, &v[6], 8, 1, "hi") < 0) { release(v, 6); return NULL; }
    Py_ssize_t n = ITEMS(v[3]);
    if (bloom_bits < 3 || bloom_bits > 40 || ITEMS(v[2]) * 8 < ((Py_ssize_t)1 << bloom_bits)
        || ITEMS(v[4]) < n || ITEMS(v[5]) < n || ITEMS(v[6]) < n) {
        release(v, 7);
        PyErr_SetString(PyExc_ValueError, "ranges: bloom, hit, lo or hi of the wrong size");
        return NULL;
    }
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = lookup_ranges(&d, v[2].buf, bloom_bits, v[3].buf, n, v[4].buf, v[5].buf, v[6].buf);
    Py_END_ALLOW_THREADS
    release(v, 7);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(lower_ascii_doc,
"lower_ascii(data, out) -> None\n\nout[:len(data)] = data.lower() (out: a writable buffer at least as long).");

static PyObject *py_lower_ascii(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO:lower_ascii", &o[0], &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    if (v[1].len < v[0].len) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "lower_ascii: out is shorter than data");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    lower_ascii(v[0].buf, v[0].len, v[1].buf);
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(first_of_doc,
"first_of(data, needles, start, out) -> None\n\n"
"out[i] = the first offset >= start of needles[i] in data, or -1 (needles: a tuple of at most 16\n"
"bytes objects; out: int64, one per needle); one pass for all of them.");

static PyObject *py_first_of(PyObject *self, PyObject *args) {
    PyObject *o[3];
    Py_ssize_t start;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO!nO:first_of", &o[0], &PyTuple_Type, &o[1], &start, &o[2])) return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(o[1]);
    if (count < 1 || count > MAX_NEEDLES || start < 0) {
        PyErr_SetString(PyExc_ValueError, "first_of: 1 to 16 needles, start not negative");
        return NULL;
    }
    const uint8_t *needles[MAX_NEEDLES];
    Py_ssize_t lens[MAX_NEEDLES];
    for (Py_ssize_t k = 0; k < count; k++) {
        PyObject *needle = PyTuple_GET_ITEM(o[1], k);
        if (!PyBytes_Check(needle)) {
            PyErr_SetString(PyExc_TypeError, "first_of: needles must be bytes");
            return NULL;
        }
        needles[k] = (const uint8_t *)PyBytes_AS_STRING(needle);
        lens[k] = PyBytes_GET_SIZE(needle);
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[2], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    if (ITEMS(v[1]) < count) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "first_of: out holds fewer items than there are needles");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS   /* the needles are immutable bytes the tuple holds */
    first_of(v[0].buf, v[0].len, start, needles, lens, (int)count, v[1].buf);
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(token_ids_doc,
"token_ids(data, out) -> (count, cut)\n\n"
"Each token of data (the runs of two bytes or more between NUL, white space and ASCII punctuation) as\n"
"its number, 1-255 as they first appear (afresh after 255), into out (bytes, writable); returns how\n"
"many were written, and whether the last of them runs to the end of data.");

static PyObject *py_token_ids(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO:token_ids", &o[0], &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    Py_ssize_t count;
    int cut;
    Py_BEGIN_ALLOW_THREADS
    count = token_ids(v[0].buf, v[0].len, v[1].buf, v[1].len, &cut);
    Py_END_ALLOW_THREADS
    release(v, 2);
    return Py_BuildValue("nO", count, cut ? Py_True : Py_False);
}

PyDoc_STRVAR(key_fits_doc,
"key_fits(counts, sampled, min_share, min_every, min_matches, max_elsewhere, min_contrast, out) -> count\n\n"
"The lengths p = 2..len(counts) a repeating key may have, shortest first, into out (int64; at most\n"
"len(out)): counts[L - 1] is how many of ``sampled`` bytes agree with the byte L on (``lag_matches``);\n"
"a length fits when the agreement at its multiples is, on average, at least min_share and at least\n"
"min_contrast times that at the other lags, which is at most max_elsewhere, its multiples agree\n"
"min_matches times in all and each at least min_every (shares of ``sampled``).");

static PyObject *py_key_fits(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    Py_ssize_t sampled, min_matches;
    double min_share, min_every, max_elsewhere, min_contrast;
    if (!PyArg_ParseTuple(args, "OnddnddO:key_fits", &o[0], &sampled, &min_share, &min_every, &min_matches,
                          &max_elsewhere, &min_contrast, &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 8, 0, "counts") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    const int64_t *c = v[0].buf;
    int64_t *out = v[1].buf;
    Py_ssize_t lags = ITEMS(v[0]), room = ITEMS(v[1]), found = 0;
    double m = (double)sampled, total = 0;
    for (Py_ssize_t i = 0; i < lags; i++) total += (double)c[i];
    for (Py_ssize_t p = 2; p <= lags && found < room; p++) {
        double at = 0, lowest = m;
        Py_ssize_t k = 0;
        for (Py_ssize_t L = p; L <= lags; L += p, k++) {
            at += (double)c[L - 1];
            if ((double)c[L - 1] < lowest) lowest = (double)c[L - 1];
        }
        double elsewhere = (total - at) / (double)(lags - k) / m, mean = at / (double)k / m;
        if (mean >= min_share && at >= (double)min_matches && elsewhere <= max_elsewhere
                && mean >= min_contrast * elsewhere && lowest / m >= min_every)
            out[found++] = p;
    }
    release(v, 2);
    return PyLong_FromSsize_t(found);
}

PyDoc_STRVAR(lag_matches_doc,
"lag_matches(data, out) -> None\n\n"
"out[L - 1] = the i < len(data) - len(out) with data[i] == data[i + L], for L = 1..len(out)\n"
"(out: int64).");

static PyObject *py_lag_matches(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OO:lag_matches", &o[0], &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    Py_ssize_t lags = ITEMS(v[1]);
    if (lags < 1 || v[0].len <= lags) {
        release(v, 2);
        PyErr_SetString(PyExc_ValueError, "lag_matches: out must hold at least one lag, and data more bytes than lags");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    lag_matches(v[0].buf, v[0].len, lags, v[1].buf);
    Py_END_ALLOW_THREADS
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(class_runs_doc,
"class_runs(data, table, min_len, need, out, at) -> (count, at)\n\n"
"Maximal runs of bytes with a non-zero class (table: 256 bytes), at least min_len long, whose OR\n"
"of classes holds every bit of need, from offset at on: (start, end, OR) rows into out (int64,\n"
"rows x 3) until it is full; returns the rows written and where to resume (len(data): done).");

static PyObject *py_class_runs(PyObject *self, PyObject *args) {
    PyObject *o[3];
    Py_ssize_t min_len, at;
    int need;
    Py_buffer v[3];
    if (!PyArg_ParseTuple(args, "OOniOn:class_runs", &o[0], &o[1], &min_len, &need, &o[2], &at)) return NULL;
    if (min_len < 1 || at < 0) {
        PyErr_SetString(PyExc_ValueError, "class_runs: min_len must be at least 1, at not negative");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 0, "table") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 1, "out") < 0) { release(v, 2); return NULL; }
    if (v[1].len != 256 || ITEMS(v[2]) < 3) {
        release(v, 3);
        PyErr_SetString(PyExc_ValueError, "class_runs: table must hold 256 bytes, out at least one row");
        return NULL;
    }
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = class_runs(v[0].buf, v[0].len, v[1].buf, min_len, need, v[2].buf, ITEMS(v[2]) / 3, &at);
    Py_END_ALLOW_THREADS
    release(v, 3);
    return Py_BuildValue("nn", count, at);
}

PyDoc_STRVAR(numbered_alleles_doc,
"numbered_alleles(data, emit_lo, emit_hi, window, bloom, bloom_bits, offsets, spans, values, tokens,\n"
"                 column, listed) -> (count, listed_count)\n\n"
"Numbers (2-9 digits, not after a letter) starting in data[emit_lo:emit_hi] with the allele tokens\n"
"beside them (letter runs of ACGTN, within ``window`` bytes, 3 each side, nearest first) that two\n"
"differ or one has two letters, and (if ``bloom`` is not empty) that plus one of ``offsets``\n"
"(uint64) may be in the table whose Bloom bitmap (``bloom_filter``) that is: their (start, end) in\n"
"spans (int64, 2 a number), values (uint64) and token values (uint64, 6 a number: 3 before, 3\n"
"after, 0 for none).  And where the range holds a column of alleles (``column`` one-letter tokens\n"
"or more, three of A, C, G, T a tenth of them or more; 0: never), the values of all its numbers the\n"
"bloom lets pass into ``listed`` (uint64).  Arrays must hold (emit_hi - emit_lo) // 3 + 2 numbers.");

static PyObject *py_numbered_alleles(PyObject *self, PyObject *args) {
    PyObject *o[7];
    Py_ssize_t lo, hi, window, column;
    int bits;
    Py_buffer v[7];
    if (!PyArg_ParseTuple(args, "OnnnOiOOOOnO:numbered_alleles", &o[0], &lo, &hi, &window, &o[1], &bits, &o[2],
                          &o[3], &o[4], &o[5], &column, &o[6]))
        return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 0, "bloom") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 0, "offsets") < 0) { release(v, 2); return NULL; }
    if (get_buffer(o[3], &v[3], 8, 1, "spans") < 0) { release(v, 3); return NULL; }
    if (get_buffer(o[4], &v[4], 8, 1, "values") < 0) { release(v, 4); return NULL; }
    if (get_buffer(o[5], &v[5], 8, 1, "tokens") < 0) { release(v, 5); return NULL; }
    if (get_buffer(o[6], &v[6], 8, 1, "listed") < 0) { release(v, 6); return NULL; }
    Py_ssize_t cap = ITEMS(v[4]);
    if (lo < 0 || hi < lo || hi > v[0].len || window < 0 || window > WINDOW_MAX || ITEMS(v[3]) < 2 * cap
        || ITEMS(v[5]) < 2 * ALLELE_SIDE * cap || ITEMS(v[6]) < cap || cap < (hi - lo) / 3 + 2
        || (v[1].len && (bits < 3 || bits > 63 || v[1].len < (Py_ssize_t)1 << (bits - 3)))) {
        release(v, 7);
        PyErr_SetString(PyExc_ValueError, "numbered_alleles: a range inside data, window 0..1024, a bloom of "
                                          "2**bits bits, and arrays for (hi - lo) // 3 + 2 numbers");
        return NULL;
    }
    PositionFilter filter = {v[1].len ? v[1].buf : NULL, bits, v[2].buf, ITEMS(v[2])};
    Py_ssize_t count, listed;
    Py_BEGIN_ALLOW_THREADS
    count = numbered_alleles(v[0].buf, v[0].len, lo, hi, window, &filter, v[3].buf, v[4].buf, v[5].buf, cap,
                             column, v[6].buf, &listed);
    Py_END_ALLOW_THREADS
    release(v, 7);
    if (count < 0) return PyErr_NoMemory();
    return Py_BuildValue("nn", count, listed);
}

PyDoc_STRVAR(read_windows_doc,
"read_windows(kmers, starts, run_starts, found, k, window, need, min_share, max_hash, entropy_low,\n"
"             adapters, confirmed) -> (windows, bases, first)\n\n"
"The read-sized windows of a view's canonical k-mers (uint64, at ascending offsets ``starts`` in\n"
"the joined DNA runs, whose starts are ``run_starts``) made of the run's: in each of two tilings\n"
"(windows of ``window`` offsets from each run's start, and shifted half a window), a window is\n"
"good when at least ``need`` of its distinct considered k-mers (evidence, hash <= max_hash) were\n"
"found (``found``: uint8) and at least min_share of them.  Sets confirmed[i] = 1 (uint8) for the\n"
"found k-mers of good windows; returns the good windows of the first tiling with any, the bases\n"
"the confirmed k-mers (k bases each) cover, and the offset of the first (-1 if none).");

static PyObject *py_read_windows(PyObject *self, PyObject *args) {
    PyObject *o[7];
    int k, window, need;
    double min_share;
    unsigned long long max_hash;
    Py_buffer v[7];
    if (!PyArg_ParseTuple(args, "OOOOiiidKOOO:read_windows", &o[0], &o[1], &o[2], &o[3], &k, &window, &need,
                          &min_share, &max_hash, &o[4], &o[5], &o[6])) return NULL;
    if (k < 7 || k > 31 || window < 2 || window > (1 << 16)) {
        PyErr_SetString(PyExc_ValueError, "read_windows: k must be 7..31, window 2..65536");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 8, 0, "kmers") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 0, "starts") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 8, 0, "run_starts") < 0) { release(v, 2); return NULL; }
    if (get_buffer(o[3], &v[3], 1, 0, "found") < 0) { release(v, 3); return NULL; }
    if (get_buffer(o[4], &v[4], 1, 0, "entropy_low") < 0) { release(v, 4); return NULL; }
    if (get_buffer(o[5], &v[5], 8, 0, "adapters") < 0) { release(v, 5); return NULL; }
    if (get_buffer(o[6], &v[6], 1, 1, "confirmed") < 0) { release(v, 6); return NULL; }
    Py_ssize_t n = ITEMS(v[0]), runs = ITEMS(v[2]);
    const int64_t *starts = v[1].buf, *run_starts = v[2].buf;
    int ordered = runs > 0 && run_starts[0] == 0;
    for (Py_ssize_t i = 1; ordered && i < runs; i++) ordered = run_starts[i] > run_starts[i - 1];
    for (Py_ssize_t i = 0; ordered && i < n; i++) ordered = starts[i] >= 0 && (i == 0 || starts[i] > starts[i - 1]);
    if (ITEMS(v[1]) != n || ITEMS(v[3]) != n || ITEMS(v[6]) != n || !ordered
        || ITEMS(v[4]) != (Py_ssize_t)(k + 1) * (k + 1) * (k + 1)) {
        release(v, 7);
        PyErr_SetString(PyExc_ValueError, "read_windows: starts, found and confirmed must match kmers, starts and "
                        "run_starts ascend from 0, entropy_low hold (k+1)**3 items");
        return NULL;
    }
    uint64_t slots = 1;
    while (slots < 4 * (uint64_t)window) slots <<= 1;
    EvidenceTest e;
    Windows w = {v[0].buf, starts, run_starts, n, runs, v[3].buf, need, window, min_share, (uint64_t)max_hash, &e,
                 malloc(n ? (size_t)n : 1), calloc(slots, sizeof(uint64_t)), malloc(window * sizeof(Py_ssize_t)),
                 slots - 1, v[6].buf};
    if (w.considered == NULL || w.set == NULL || w.used == NULL) {
        free(w.considered);
        free(w.set);
        free(w.used);
        release(v, 7);
        return PyErr_NoMemory();
    }
    Py_ssize_t windows = 0, bases = 0, first = -1;
    Py_BEGIN_ALLOW_THREADS
    evidence_init(&e, k, v[4].buf, v[5].buf, ITEMS(v[5]));
    memset(w.considered, 2, (size_t)n);
    memset(w.confirmed, 0, (size_t)n);
    for (int t = 0; t < 2; t++) {
        Py_ssize_t good = tiling(&w, t ? window / 2 : 0);
        if (!windows) windows = good;
    }
    int64_t reach = -1;  /* the union of [start, start + k) of the confirmed k-mers, in order */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!w.confirmed[i]) continue;
        if (first < 0) first = (Py_ssize_t)starts[i];
        int64_t lo = starts[i] > reach ? starts[i] : reach, hi = starts[i] + k;
        if (hi > lo) bases += (Py_ssize_t)(hi - lo);
        if (hi > reach) reach = hi;
    }
    Py_END_ALLOW_THREADS
    free(w.considered);
    free(w.set);
    free(w.used);
    release(v, 7);
    return Py_BuildValue("nnn", windows, bases, first);
}

PyDoc_STRVAR(lzw_doc,
"lzw(data, start_bit, msb, max_bits, clear, eod, early, groups, out) -> (written, stop_bit, status)\n\n"
"LZW codes of data from start_bit into out (bytes, writable): msb, codes most significant bit first\n"
"(PDF, TIFF) or least (compress); widths from 9 to max_bits (9-16), widened one entry early when\n"
"early; code 256 empties the table when clear, 257 ends the data when eod; groups: compress(1)'s\n"
"padded groups of eight codes.  status: 0 input ended, 1 out full, 2 corrupt code, 3 end code.");

static PyObject *py_lzw(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    long long start;
    int msb, max_bits, clear, eod, early, groups;
    if (!PyArg_ParseTuple(args, "OLpippppO:lzw", &o[0], &start, &msb, &max_bits, &clear, &eod, &early,
                          &groups, &o[1])) return NULL;
    if (max_bits < 9 || max_bits > LZW_MAX_BITS || start < 0) {
        PyErr_SetString(PyExc_ValueError, "lzw: max_bits must be 9-16 and start_bit >= 0");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    uint16_t *prefix = PyMem_RawMalloc(LZW_TABLE * sizeof(uint16_t));
    uint8_t *suffix = PyMem_RawMalloc(LZW_TABLE), *stack = PyMem_RawMalloc(LZW_TABLE + 1);
    if (!prefix || !suffix || !stack) {
        PyMem_RawFree(prefix); PyMem_RawFree(suffix); PyMem_RawFree(stack);
        release(v, 2);
        return PyErr_NoMemory();
    }
    int64_t bits = start;
    int status;
    Py_ssize_t made;
    Py_BEGIN_ALLOW_THREADS
    made = lzw(v[0].buf, v[0].len, &bits, msb, max_bits, clear, eod, early, groups, v[1].buf, v[1].len,
               &status, prefix, suffix, stack);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(prefix); PyMem_RawFree(suffix); PyMem_RawFree(stack);
    release(v, 2);
    return Py_BuildValue("nLi", made, (long long)bits, status);
}

PyDoc_STRVAR(xca_doc,
"xca(data, method, out) -> (written, read, status)\n\n"
"Windows' compression (MS-XCA) of data into out (bytes, writable; its size is what the stream\n"
"declares): method 1 LZNT1, 2 plain LZ77, 3 LZ77+Huffman.  status: 0 input ended, 1 out full,\n"
"2 corrupt (a distance before the start, a table that is not a whole code).");

static PyObject *py_xca(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_buffer v[2];
    int method;
    if (!PyArg_ParseTuple(args, "OiO:xca", &o[0], &method, &o[1])) return NULL;
    if (method < 1 || method > 3) {
        PyErr_SetString(PyExc_ValueError, "xca: method must be 1 (LZNT1), 2 (LZ77) or 3 (LZ77+Huffman)");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    uint16_t *table = method == 3 ? PyMem_RawMalloc(sizeof(uint16_t) << XCA_TABLE_BITS) : NULL;
    if (method == 3 && !table) { release(v, 2); return PyErr_NoMemory(); }
    Py_ssize_t made, read;
    int status;
    Py_BEGIN_ALLOW_THREADS
    if (method == 1) made = xca_lznt1(v[0].buf, v[0].len, v[1].buf, v[1].len, &read, &status);
    else if (method == 2) made = xca_lz77(v[0].buf, v[0].len, v[1].buf, v[1].len, &read, &status);
    else made = xca_huffman(v[0].buf, v[0].len, v[1].buf, v[1].len, &read, &status, table);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(table);
    release(v, 2);
    return Py_BuildValue("nni", made, read, status);
}

/* ---- LZ4 blocks: the size a raw block decodes to, walking its sequences without writing them ---- */

/* The bytes the LZ4 block data[start:n] decodes to when it is one whole block: every sequence's literals
 * within the input, every match's offset from 1 to the bytes made so far, the input ending exactly after
 * the last sequence's literals (LZ4's block format); and the matches it holds (a block of literals alone
 * is its own input, two bytes shorter).  -1 when it is no block.  Linear in its sequences. */
static long long lz4_block_size(const uint8_t *d, Py_ssize_t n, Py_ssize_t start, long long window,
                                long long *matches, long long *before) {
    long long made = 0;
    Py_ssize_t at = start;
    *matches = 0;
    *before = 0;
    while (at < n) {
        unsigned token = d[at++];
        long long literals = token >> 4;
        if (literals == 15) {
            unsigned more;
            do {
                if (at >= n) return -1;
                more = d[at++];
                literals += more;
            } while (more == 255);
        }
        if (literals > n - at) return -1;
        at += literals;
        made += literals;
        if (at == n) return made;           /* the last sequence: literals only */
        if (n - at < 2) return -1;
        long long offset = d[at] | (d[at + 1] << 8);
        at += 2;
        if (offset == 0 || offset > made + window) return -1;
        if (offset > made) (*before)++;       /* a copy from a dictionary before the block */
        long long length = (token & 15) + 4;
        if ((token & 15) == 15) {
            unsigned more;
            do {
                if (at >= n) return -1;
                more = d[at++];
                length += more;
            } while (more == 255);
        }
        made += length;
        (*matches)++;
    }
    return -1;                                /* an empty block, or one ending in a match */
}

PyDoc_STRVAR(lz4_block_size_doc,
"lz4_block_size(data, start, window=0) -> (size, matches, before)\n\n"
"The bytes the LZ4 block data[start:] decodes to, the matches in it, and those that copy from before its\n"
"start (from a dictionary of ``window`` bytes), walking its sequences without writing them; size -1 when\n"
"it is no whole block (a literal past the input, an offset past the output and the window, an end inside\n"
"a sequence).");

static PyObject *py_lz4_block_size(PyObject *self, PyObject *args) {
    PyObject *o;
    Py_ssize_t start;
    long long window = 0;
    Py_buffer v;
    if (!PyArg_ParseTuple(args, "On|L:lz4_block_size", &o, &start, &window)) return NULL;
    if (window < 0 || window > 65536) {
        PyErr_SetString(PyExc_ValueError, "lz4_block_size: window outside 0-65536");
        return NULL;
    }
    if (get_buffer(o, &v, 1, 0, "data") < 0) return NULL;
    if (start < 0 || start > v.len) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "lz4_block_size: start outside the data");
        return NULL;
    }
    long long matches, before, size;
    Py_BEGIN_ALLOW_THREADS
    size = lz4_block_size(v.buf, v.len, start, window, &matches, &before);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    return Py_BuildValue("LLL", size, matches, before);
}

/* ---- rANS (CRAM's codecs): the symbol loop, its tables made by the caller ---- */

/* Decode n_out symbols into out from the states (n_states of them), reading renormalisation bytes from
 * d[at:n]: order 0 interleaves the states a symbol each; order 1 gives state j the j-th of n_states equal
 * parts (the last state also the rest), each symbol's table the one of the symbol before it in its part:
 * row[ctx] its table's row (-1: none; order 0 uses row 0).  wide: Nx16's one 16-bit word below 2**15;
 * else 4x8's bytes below 2**23.  The input offset after the last byte read, or -1 when the input ends
 * first or a symbol has no table. */
static Py_ssize_t rans_symbols(const uint8_t *d, Py_ssize_t n, Py_ssize_t at, uint8_t *out, Py_ssize_t n_out,
                               uint32_t *states, int n_states, const uint32_t *freq, const uint32_t *cum,
                               const uint8_t *lookup, const int16_t *row, int bits, int order1, int wide) {
    const uint32_t mask = (1u << bits) - 1;
    uint8_t last[32] = {0};
    Py_ssize_t part = order1 ? n_out / n_states : 0;
    for (Py_ssize_t i = 0; i < n_out; i++) {
        int j;
        Py_ssize_t o;
        if (!order1) { j = (int)(i % n_states); o = i; }
        else if (i < part * n_states) { j = (int)(i % n_states); o = (Py_ssize_t)j * part + i / n_states; }
        else { j = n_states - 1; o = i; }
        uint32_t x = states[j];
        int r = order1 ? row[last[j]] : 0;
        if (r < 0) return -1;
        uint8_t s = lookup[((size_t)r << bits) + (x & mask)];
        out[o] = s;
        uint64_t y = (uint64_t)freq[((size_t)r << 8) + s] * (x >> bits) + (x & mask) - cum[((size_t)r << 8) + s];
        if (wide) {
            if (y < (1u << 15)) {
                if (at + 2 > n) return -1;
                y = (y << 16) | d[at] | ((uint32_t)d[at + 1] << 8);
                at += 2;
            }
        } else {
            while (y < (1u << 23)) {
                if (at >= n) return -1;
                y = (y << 8) | d[at++];
            }
        }
        states[j] = (uint32_t)y;
        last[j] = s;
    }
    return at;
}

PyDoc_STRVAR(rans_symbols_doc,
"rans_symbols(data, at, out, states, freq, cum, lookup, row, bits, order1, wide) -> at\n\n"
"CRAM's rANS symbol loop: len(out) symbols from the uint32 states (1 to 32); freq and cum uint32 tables of\n"
"256 a row, lookup the symbol of each of a row's 1 << bits slots; row the int16 row of each context (256\n"
"for order 1, -1: no table; order 0: row 0).  Returns the offset after the last byte read, -1 when the\n"
"input ends first or a context has no table.");

static PyObject *py_rans_symbols(PyObject *self, PyObject *args) {
    PyObject *o[7];
    Py_ssize_t at;
    int bits, order1, wide;
    Py_buffer v[7];
    if (!PyArg_ParseTuple(args, "OnOOOOOOipp:rans_symbols", &o[0], &at, &o[1], &o[2], &o[3], &o[4], &o[5],
                          &o[6], &bits, &order1, &wide)) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 4, 1, "states") < 0) { release(v, 2); return NULL; }
    if (get_buffer(o[3], &v[3], 4, 0, "freq") < 0) { release(v, 3); return NULL; }
    if (get_buffer(o[4], &v[4], 4, 0, "cum") < 0) { release(v, 4); return NULL; }
    if (get_buffer(o[5], &v[5], 1, 0, "lookup") < 0) { release(v, 5); return NULL; }
    if (get_buffer(o[6], &v[6], 2, 0, "row") < 0) { release(v, 6); return NULL; }
    Py_ssize_t rows = ITEMS(v[3]) / 256;
    Py_ssize_t n_states = ITEMS(v[2]);
    int ok = bits >= 1 && bits <= 12 && n_states >= 1 && n_states <= 32 && at >= 0 && at <= v[0].len && rows >= 1
             && ITEMS(v[4]) >= rows * 256 && v[5].len >= (rows << bits) && ITEMS(v[6]) >= (order1 ? 256 : 1);
    const int16_t *row = v[6].buf;
    for (Py_ssize_t k = 0; ok && k < (order1 ? 256 : 1); k++)
        ok = row[k] < rows;
    if (!ok) {
        release(v, 7);
        PyErr_SetString(PyExc_ValueError, "rans_symbols: tables too small for their rows, or bits outside 1-12, "
                        "or states outside 1-32");
        return NULL;
    }
    Py_ssize_t end;
    Py_BEGIN_ALLOW_THREADS
    end = rans_symbols(v[0].buf, v[0].len, at, v[1].buf, v[1].len, v[2].buf, (int)n_states, v[3].buf, v[4].buf,
                       v[5].buf, row, bits, order1, wide);
    Py_END_ALLOW_THREADS
    release(v, 7);
    return PyLong_FromSsize_t(end);
}

/* ---- deflate: where a block with Huffman codes of its own may start, at any bit ---- */

/* n bits (n <= 32) of an LSB-first bit stream at bit position p, or -1 past the end. */
static long long deflate_bits(const uint8_t *d, Py_ssize_t n_bytes, long long p, int n) {
    if ((p + n + 7) >> 3 > n_bytes) return -1;
    unsigned long long v = 0;
    Py_ssize_t at = (Py_ssize_t)(p >> 3);
    for (int k = 0; k < 6 && at + k < n_bytes; k++) v |= (unsigned long long)d[at + k] << (8 * k);
    return (long long)((v >> (p & 7)) & ((1ull << n) - 1));
}

/* Whether code lengths lens[0..n) make a prefix code zlib takes: never over-subscribed; complete, or (not
 * for the code-length code) a single code of length 1, or no codes at all (distances only). */
static int deflate_code_ok(const uint8_t *lens, int n, int max_len, int code_lengths_code) {
    int count[16] = {0};
    for (int i = 0; i < n; i++) count[lens[i]]++;
    int used = n - count[0];
    if (!used) return !code_lengths_code;
    long left = 1;
    int max = 0;
    for (int len = 1; len <= max_len; len++) {
        left <<= 1;
        left -= count[len];
        if (left < 0) return 0;
        if (count[len]) max = len;
    }
    return left == 0 || (!code_lengths_code && max == 1);
}

static const uint8_t DEFLATE_CL_ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

/* Whether a dynamic-Huffman block header zlib would take starts at bit p: BTYPE 2, counts in range, the
 * code-length code complete, the literal/length and distance lengths it codes within their counts, those
 * codes valid, the end-of-block code among them. */
static int deflate_dynamic_at(const uint8_t *d, Py_ssize_t n_bytes, long long p) {
    long long h = deflate_bits(d, n_bytes, p, 17);
    if (h < 0 || ((h >> 1) & 3) != 2) return 0;
    int hlit = (int)((h >> 3) & 31) + 257, hdist = (int)((h >> 8) & 31) + 1, hclen = (int)((h >> 13) & 15) + 4;
    if (hlit > 286 || hdist > 30) return 0;
    uint8_t cl[19] = {0};
    long long q = p + 17;
    for (int i = 0; i < hclen; i++, q += 3) {
        long long b = deflate_bits(d, n_bytes, q, 3);
        if (b < 0) return 0;
        cl[DEFLATE_CL_ORDER[i]] = (uint8_t)b;
    }
    if (!deflate_code_ok(cl, 19, 7, 1)) return 0;
    /* canonical codes of the code-length code, looked up by their bit-reversed 7-bit prefix */
    int16_t table[128];
    uint8_t tlen[128];
    for (int i = 0; i < 128; i++) { table[i] = -1; tlen[i] = 0; }
    int count[8] = {0}, next[8] = {0};
    for (int i = 0; i < 19; i++) count[cl[i]]++;
    count[0] = 0;
    for (int len = 1, code = 0; len <= 7; len++) { code = (code + count[len - 1]) << 1; next[len] = code; }
    for (int sym = 0; sym < 19; sym++) {
        int len = cl[sym];
        if (!len) continue;
        int code = next[len]++, rev = 0;
        for (int k = 0; k < len; k++) rev |= ((code >> k) & 1) << (len - 1 - k);
        for (int fill = rev; fill < 128; fill += 1 << len) { table[fill] = (int16_t)sym; tlen[fill] = (uint8_t)len; }
    }
    uint8_t lens[286 + 30];
    int total = hlit + hdist, i = 0;
    while (i < total) {
        long long peek = deflate_bits(d, n_bytes, q, 7);
        if (peek < 0) {     /* near the end: fewer than 7 bits left */
            return 0;
        }
        int sym = table[peek];
        if (sym < 0) return 0;
        q += tlen[peek];
        int repeat, value;
        if (sym < 16) { lens[i++] = (uint8_t)sym; continue; }
        if (sym == 16) {
            if (!i) return 0;
            long long b = deflate_bits(d, n_bytes, q, 2); if (b < 0) return 0; q += 2;
            repeat = 3 + (int)b; value = lens[i - 1];
        } else if (sym == 17) {
            long long b = deflate_bits(d, n_bytes, q, 3); if (b < 0) return 0; q += 3;
            repeat = 3 + (int)b; value = 0;
        } else {
            long long b = deflate_bits(d, n_bytes, q, 7); if (b < 0) return 0; q += 7;
            repeat = 11 + (int)b; value = 0;
        }
        if (i + repeat > total) return 0;
        while (repeat--) lens[i++] = (uint8_t)value;
    }
    return lens[256] != 0 && deflate_code_ok(lens, hlit, 15, 0) && deflate_code_ok(lens + hlit, hdist, 15, 0);
}

PyDoc_STRVAR(deflate_dynamic_starts_doc,
"deflate_dynamic_starts(data, start_bit, out) -> (count, next_bit)\n\n"
"The bit positions from start_bit on where a deflate block with Huffman codes of its own could start (a\n"
"header zlib would take), into the int64 array out; stops when out is full: next_bit is where to go on\n"
"(the end of the data's bits when it did not stop).");

/* The Kraft sum (in 2^-7) of four 3-bit code lengths, by their 12 bits. */
static uint16_t deflate_kraft4[1 << 12];

static void deflate_kraft4_init(void) {
    for (int v = 0; v < 1 << 12; v++) {
        unsigned sum = 0;
        for (int i = 0; i < 4; i++) {
            unsigned len = (v >> (3 * i)) & 7;
            if (len) sum += 1u << (7 - len);
        }
        deflate_kraft4[v] = (uint16_t)sum;
    }
}

static PyObject *py_deflate_dynamic_starts(PyObject *self, PyObject *args) {
    PyObject *o[2];
    long long start;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OLO:deflate_dynamic_starts", &o[0], &start, &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    long long *out = v[1].buf, end = (long long)v[0].len * 8, p = start < 0 ? 0 : start;
    Py_ssize_t count = 0, room = ITEMS(v[1]);
    if (!deflate_kraft4[1]) deflate_kraft4_init();      /* (under the GIL) */
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *d = v[0].buf;
    Py_ssize_t n_bytes = v[0].len;
    while (p < end && count < room) {
        Py_ssize_t at = (Py_ssize_t)(p >> 3);
        if (at + 16 > n_bytes) {
            if (deflate_dynamic_at(d, n_bytes, p)) out[count++] = p;
            p++;
            continue;
        }
        /* the header's first 81 bits from a 128-bit window, for each bit of this byte: BTYPE 2, HLIT and
         * HDIST in range, and the code-length code's lengths complete (their Kraft sum exactly 2^7),
         * before the rest */
        unsigned long long lo = 0, hi = 0;
        for (int k = 7; k >= 0; k--) { lo = (lo << 8) | d[at + k]; hi = (hi << 8) | d[at + 8 + k]; }
        unsigned __int128 window = ((unsigned __int128)hi << 64) | lo;
        for (int bit = (int)(p & 7); bit < 8 && count < room; bit++, p++) {
            unsigned __int128 w = window >> bit;
            unsigned long long x = (unsigned long long)w;
            if (((x >> 1) & 3) != 2 || ((x >> 3) & 31) > 29 || ((x >> 8) & 31) > 29) continue;
            int hclen = (int)((x >> 13) & 15) + 4;
            unsigned long long lengths = (unsigned long long)(w >> 17) & ((1ull << (3 * hclen)) - 1);
            unsigned kraft = deflate_kraft4[lengths & 0xFFF] + deflate_kraft4[(lengths >> 12) & 0xFFF]
                             + deflate_kraft4[(lengths >> 24) & 0xFFF] + deflate_kraft4[(lengths >> 36) & 0xFFF]
                             + deflate_kraft4[(lengths >> 48) & 0x1FF];
            if (kraft == 128 && deflate_dynamic_at(d, n_bytes, p)) out[count++] = p;
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 2);
    return Py_BuildValue("nL", count, p);
}

/* PNG's filters undone (ISO 15948 9.2): rows of a filter type and stride filtered bytes into rows of
 * stride bytes, bpp the bytes of a whole pixel (1 below 8 bits a pixel); stops at a type past 4. */
static Py_ssize_t png_unfilter(const uint8_t *in, Py_ssize_t rows, Py_ssize_t stride, Py_ssize_t bpp, uint8_t *out) {
    for (Py_ssize_t r = 0; r < rows; r++) {
        const uint8_t *f = in + r * (stride + 1) + 1;
        uint8_t type = f[-1], *o = out + r * stride;
        const uint8_t *up = r ? o - stride : NULL;
        if (type > 4) return r;
        if (type == 0 || (type == 2 && !up)) { memcpy(o, f, (size_t)stride); continue; }
        for (Py_ssize_t i = 0; i < stride; i++) {
            int a = i >= bpp ? o[i - bpp] : 0, b = up ? up[i] : 0, c = up && i >= bpp ? up[i - bpp] : 0, p;
            if (type == 1) p = a;
            else if (type == 2) p = b;
            else if (type == 3) p = (a + b) >> 1;
            else {
                int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
                p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            }
            o[i] = (uint8_t)(f[i] + p);
        }
    }
    return rows;
}

PyDoc_STRVAR(png_unfilter_doc,
"png_unfilter(data, stride, bpp, out) -> rows\n\n"
"PNG's scanline filters undone: data holds rows of a filter type and stride bytes, out (writable)\n"
"receives rows of stride bytes, bpp is the bytes of a whole pixel (1 below 8 bits); as many rows as\n"
"both hold, up to the first of a filter type past 4. Returns the rows undone.");

static PyObject *py_png_unfilter(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_ssize_t stride, bpp;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OnnO:png_unfilter", &o[0], &stride, &bpp, &o[1])) return NULL;
    if (stride < 1 || bpp < 1 || bpp > 8) {
        PyErr_SetString(PyExc_ValueError, "png_unfilter: stride must be positive and bpp 1-8");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    Py_ssize_t rows = v[0].len / (stride + 1), room = v[1].len / stride, done;
    if (room < rows) rows = room;
    Py_BEGIN_ALLOW_THREADS
    done = png_unfilter(v[0].buf, rows, stride, bpp, v[1].buf);
    Py_END_ALLOW_THREADS
    release(v, 2);
    return PyLong_FromSsize_t(done);
}

/* Whether byte i of a cover is one whose low bits carry data: every byte (pattern 0), three of every
 * four (1: the fourth, an alpha channel, skipped), the first of every two (2: a 16-bit little-endian
 * sample's low byte). */
static inline int low_bits_taken(Py_ssize_t i, int pattern) {
    return pattern == 0 || (pattern == 1 ? (i & 3) != 3 : !(i & 1));
}

/* The low `bits` (1 or 2, the higher first) of the taken bytes of d as one bit stream, from its bit
 * `skip` on, packed into out eight to a byte (the first bit the highest, or the lowest when
 * lsb_first); returns the bytes made (whole ones). */
static Py_ssize_t low_bits(const uint8_t *d, Py_ssize_t n, int bits, int pattern, Py_ssize_t skip, int lsb_first,
                           uint8_t *out, Py_ssize_t room) {
    Py_ssize_t made = 0, seen = 0;
    unsigned acc = 0, have = 0;
    for (Py_ssize_t i = 0; i < n && made < room; i++) {
        if (!low_bits_taken(i, pattern)) continue;
        for (int k = bits - 1; k >= 0; k--) {
            if (seen++ < skip) continue;
            unsigned bit = (d[i] >> k) & 1;
            acc = lsb_first ? acc | bit << have : acc << 1 | bit;
            if (++have == 8) {
                out[made++] = (uint8_t)acc;
                acc = have = 0;
                if (made == room) break;
            }
        }
    }
    return made;
}

PyDoc_STRVAR(low_bits_doc,
"low_bits(data, bits, pattern, skip, lsb_first, out) -> made\n\n"
"The low bits (1 or 2 a byte, the higher first) of data's bytes as one bit stream, of every byte\n"
"(pattern 0), three of every four (1) or the first of every two (2), from its bit skip on, packed\n"
"eight to a byte into out (writable; the first bit the highest, or the lowest if lsb_first) until\n"
"out is full or data ends. Returns the bytes made.");

static PyObject *py_low_bits(PyObject *self, PyObject *args) {
    PyObject *o[2];
    int bits, pattern, lsb_first;
    Py_ssize_t skip, made;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OiinpO:low_bits", &o[0], &bits, &pattern, &skip, &lsb_first, &o[1])) return NULL;
    if (bits < 1 || bits > 2 || pattern < 0 || pattern > 2 || skip < 0) {
        PyErr_SetString(PyExc_ValueError, "low_bits: bits must be 1 or 2, pattern 0-2, skip not negative");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 1, 1, "out") < 0) { release(v, 1); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    made = low_bits(v[0].buf, v[0].len, bits, pattern, skip, lsb_first, v[1].buf, v[1].len);
    Py_END_ALLOW_THREADS
    release(v, 2);
    return PyLong_FromSsize_t(made);
}

static uint8_t low_bit_pairs[65536 / 8], low_bit_needles[3 * 64];
static uint32_t low_bit_wanted[64];
static Py_ssize_t low_bit_needles_n = -1;

PyDoc_STRVAR(low_bit_look_doc,
"low_bit_look(data, ways, needles, bits_looked, out) -> count\n\n"
"Where the low bits of data's first bytes may hold text or a stream, for each way (bits, pattern)\n"
"of ways (int64 pairs, as low_bits takes them): their first bits_looked (<= 32768) bits as one\n"
"stream; text where the bits one phase of eight are 0 four times in five or more (an ASCII byte's top\n"
"bit) and another phase's vary (neither so nor 1 so often: no flat colour), a stream where one of\n"
"needles (bytes, three a needle, at most 64, as the highest-first packing reads them) begins at a bit. Rows (kind: -1 text or the needle's index, way, bit) into out (int64, rows\n"
"x 3) until it is full; a text row names the phase's first bit, once a way. Returns the rows.");

static PyObject *py_low_bit_look(PyObject *self, PyObject *args) {
    PyObject *o[4];
    Py_ssize_t looked;
    Py_buffer v[4];
    if (!PyArg_ParseTuple(args, "OOOnO:low_bit_look", &o[0], &o[1], &o[2], &looked, &o[3])) return NULL;
    if (looked < 32 || looked > 32768) {
        PyErr_SetString(PyExc_ValueError, "low_bit_look: bits_looked must be 32-32768");
        return NULL;
    }
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 0, "ways") < 0) { release(v, 1); return NULL; }
    if (get_buffer(o[2], &v[2], 1, 0, "needles") < 0) { release(v, 2); return NULL; }
    if (get_buffer(o[3], &v[3], 8, 1, "out") < 0) { release(v, 3); return NULL; }
    const long long *ways = v[1].buf;
    Py_ssize_t n_ways = ITEMS(v[1]) / 2, n_needles = v[2].len / 3, room = ITEMS(v[3]) / 3, count = 0;
    for (Py_ssize_t w = 0; w < n_ways; w++) {
        if (ways[2 * w] < 1 || ways[2 * w] > 2 || ways[2 * w + 1] < 0 || ways[2 * w + 1] > 2) {
            release(v, 4);
            PyErr_SetString(PyExc_ValueError, "low_bit_look: a way's bits must be 1 or 2, its pattern 0-2");
            return NULL;
        }
    }
    if (n_needles > 64) n_needles = 64;
    if (n_needles != low_bit_needles_n || memcmp(low_bit_needles, v[2].buf, (size_t)(3 * n_needles))) {
        /* the needles' first two bytes, a bit each: kept while the same needles come */
        const uint8_t *nd = v[2].buf;
        memset(low_bit_pairs, 0, sizeof low_bit_pairs);
        for (Py_ssize_t k = 0; k < n_needles; k++) {
            unsigned pair = (unsigned)nd[3 * k] << 8 | nd[3 * k + 1];
            low_bit_pairs[pair >> 3] |= (uint8_t)(1u << (pair & 7));
            low_bit_wanted[k] = (uint32_t)nd[3 * k] << 16 | (uint32_t)nd[3 * k + 1] << 8 | nd[3 * k + 2];
        }
        memcpy(low_bit_needles, nd, (size_t)(3 * n_needles));
        low_bit_needles_n = n_needles;
    }
    /* (under the GIL throughout: a few microseconds, and the kept tables are shared) */
    const uint8_t *d = v[0].buf;
    long long *out = v[3].buf;
    for (Py_ssize_t w = 0; w < n_ways && count < room; w++) {
        int bits = (int)ways[2 * w], pattern = (int)ways[2 * w + 1];
        Py_ssize_t got = 0, ones[8] = {0};
        uint32_t window = 0;
        for (Py_ssize_t i = 0; i < v[0].len && got < looked && count < room; i++) {
            if (!low_bits_taken(i, pattern)) continue;
            for (int k = bits - 1; k >= 0 && got < looked; k--) {
                unsigned bit = (d[i] >> k) & 1;
                ones[got & 7] += bit;
                window = (window << 1 | bit) & 0xFFFFFF;
                if (++got >= 24 && low_bit_pairs[window >> 11] >> (window >> 8 & 7) & 1) {
                    for (Py_ssize_t n = 0; n < n_needles && count < room; n++) {
                        if (low_bit_wanted[n] != window) continue;
                        out[3 * count] = n; out[3 * count + 1] = w; out[3 * count + 2] = got - 24;
                        count++;
                    }
                }
            }
        }
        int quiet = -1, varied = 0;
        for (int p = 0; p < 8; p++) {
            if (ones[p] * 5 <= got / 8 && (quiet < 0 || ones[p] < ones[quiet])) quiet = p;
            varied |= ones[p] * 10 > got / 8 && ones[p] * 10 < got / 8 * 9;
        }
        if (quiet >= 0 && varied && got >= 64 && count < room) {
            out[3 * count] = -1; out[3 * count + 1] = w; out[3 * count + 2] = quiet;
            count++;
        }
    }
    release(v, 4);
    return PyLong_FromSsize_t(count);
}

PyDoc_STRVAR(headerless_starts_doc,
"headerless_starts(data, first, last, out) -> count\n\n"
"Offsets first..last of data (out: int64, filled in order until full) where a compressed stream\n"
"whose magic was cut off may begin: a bzip2 block's 48-bit magic; an xz block header's size,\n"
"reserved flags clear and a filter ID (LZMA2, delta, a branch converter); an LZ4 frame descriptor\n"
"(version 01, reserved bits clear, a block size of 64 KiB or more); a zstd frame header of no\n"
"dictionary, reserved and unused bits clear, a window of 2 GiB at most, whose first block is\n"
"compressed and no longer than 128 KiB; an LZMA2 chunk that\n"
"resets the dictionary with properties of lc + lp <= 4 and pb <= 4, then the range coder's 0 byte.\n"
"Each needs 16 bytes from its offset. Returns how many were written.");

static int headerless_at(const uint8_t *d) {
    static const uint8_t bz2_block[6] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};
    uint8_t a = d[0], b = d[1];
    if (!memcmp(d, bz2_block, 6)) return 1;
    if (a && !(b & 0x3C) && (d[2] == 0x21 || (d[2] >= 0x03 && d[2] <= 0x0B))) return 1;
    if (a >> 6 == 1 && !(a & 0x02) && !(b & 0x8F) && b >> 4 >= 4) return 1;
    if (!(a & 0x1B)) {
        static const int fcs[4] = {0, 2, 4, 8};
        int size = fcs[a >> 6] ? fcs[a >> 6] : (a & 0x20 ? 1 : 0);
        int at = 1 + (a & 0x20 ? 0 : 1) + size;
        unsigned block = d[at] | (unsigned)d[at + 1] << 8 | (unsigned)d[at + 2] << 16;
        if ((block >> 1 & 3) == 2 && block >> 3 <= 128 * 1024 && (a & 0x20 || b >> 3 <= 21)) return 1;
    }
    if (a >= 0xE0) {
        unsigned p = d[5];
        if (p < 225 && p % 9 + p / 9 % 5 <= 4 && p / 45 <= 4 && d[6] == 0) return 1;
    }
    return 0;
}

static PyObject *py_headerless_starts(PyObject *self, PyObject *args) {
    PyObject *o[2];
    Py_ssize_t first, last, count = 0;
    Py_buffer v[2];
    if (!PyArg_ParseTuple(args, "OnnO:headerless_starts", &o[0], &first, &last, &o[1])) return NULL;
    if (get_buffer(o[0], &v[0], 1, 0, "data") < 0) return NULL;
    if (get_buffer(o[1], &v[1], 8, 1, "out") < 0) { release(v, 1); return NULL; }
    const uint8_t *d = v[0].buf;
    long long *out = v[1].buf;
    Py_ssize_t room = ITEMS(v[1]);
    if (first < 0) first = 0;
    for (Py_ssize_t at = first; at <= last && at + 16 <= v[0].len && count < room; at++)
        if (headerless_at(d + at)) out[count++] = at;
    release(v, 2);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"headerless_starts", py_headerless_starts, METH_VARARGS, headerless_starts_doc},
    {"png_unfilter", py_png_unfilter, METH_VARARGS, png_unfilter_doc},
    {"low_bits", py_low_bits, METH_VARARGS, low_bits_doc},
    {"low_bit_look", py_low_bit_look, METH_VARARGS, low_bit_look_doc},
    {"deflate_dynamic_starts", py_deflate_dynamic_starts, METH_VARARGS, deflate_dynamic_starts_doc},
    {"xca", py_xca, METH_VARARGS, xca_doc},
    {"lzw", py_lzw, METH_VARARGS, lzw_doc},
    {"lz4_block_size", py_lz4_block_size, METH_VARARGS, lz4_block_size_doc},
    {"rans_symbols", py_rans_symbols, METH_VARARGS, rans_symbols_doc},
    {"two_bit_forms", py_two_bit_forms, METH_VARARGS, two_bit_forms_doc},
    {"winnow", py_winnow, METH_VARARGS, winnow_doc},
    {"kgram_hashes", py_kgram_hashes, METH_VARARGS, kgram_hashes_doc},
    {"low_info", py_low_info, METH_VARARGS, low_info_doc},
    {"canonical", py_canonical, METH_VARARGS, canonical_doc},
    {"canonical_at", py_canonical_at, METH_VARARGS, canonical_at_doc},
    {"evidence", py_evidence, METH_VARARGS, evidence_doc},
    {"dna_runs", py_dna_runs, METH_VARARGS, dna_runs_doc},
    {"symbol_runs", py_symbol_runs, METH_VARARGS, symbol_runs_doc},
    {"patterns", py_patterns, METH_VARARGS, patterns_doc},
    {"lookup", py_lookup, METH_VARARGS, lookup_doc},
    {"bloom", py_bloom, METH_VARARGS, bloom_doc},
    {"union", py_union, METH_VARARGS, union_doc},
    {"merge", py_merge, METH_VARARGS, merge_doc},
    {"sample", py_sample, METH_VARARGS, sample_doc},
    {"permute", py_permute, METH_VARARGS, permute_doc},
    {"dedupe", py_dedupe, METH_VARARGS, dedupe_doc},
    {"ranges", py_ranges, METH_VARARGS, ranges_doc},
    {"class_runs", py_class_runs, METH_VARARGS, class_runs_doc},
    {"first_of", py_first_of, METH_VARARGS, first_of_doc},
    {"lag_matches", py_lag_matches, METH_VARARGS, lag_matches_doc},
    {"key_fits", py_key_fits, METH_VARARGS, key_fits_doc},
    {"token_ids", py_token_ids, METH_VARARGS, token_ids_doc},
    {"lower_ascii", py_lower_ascii, METH_VARARGS, lower_ascii_doc},
    {"read_windows", py_read_windows, METH_VARARGS, read_windows_doc},
    {"numbered_alleles", py_numbered_alleles, METH_VARARGS, numbered_alleles_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Compiled per-byte kernels of the run index and the correlator (see _kernels.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) {
    init_pair_tables();
    uint64_t inv = BASE;  /* Newton's iteration for the inverse of an odd number modulo 2**64 */
    for (int i = 0; i < 6; i++) inv *= 2 - BASE * inv;
    INV_BASE = inv;
    uint64_t top = 1;
    for (int t = 0; t < K - 1; t++) {
        POW[t] = top;
        top *= BASE;
    }
    POW[K - 1] = top;
    for (int c = 0; c < 256; c++) {
        TOP[c] = (uint64_t)c * top;
        POP8[c] = (uint8_t)__builtin_popcount((unsigned)c);
        CODE[c] = 4;
        FOLD[c] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        HALVES[c] = (uint16_t)((1u << (c >> 4)) | (1u << (c & 15)));
        TEXT[c] = (uint8_t)((c >= ' ' && c <= '~') || c == '\t' || c == '\n' || c == '\r');
        SEPARATOR[c] = (uint8_t)(c == 0 || c == ' ' || (c >= '\t' && c <= '\r') || (c >= '!' && c <= '/')
                                 || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~'));
        BREAKERS[c] = (uint8_t)(!TEXT[c] && !SEPARATOR[c]);
        ALLELE[c] = (uint8_t)((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? 8 : c >= '0' && c <= '9' ? 16 : 0);
        BESIDE[c] = (uint8_t)(c == 0 || (TEXT[c] && !ALLELE[c]));
    }
    const char *bases = "ACGTN";
    for (int i = 0; i < 5; i++) {
        CODE[(uint8_t)bases[i]] = (uint8_t)i;  /* N stays 4: not a base */
        CODE[(uint8_t)bases[i] + 32] = (uint8_t)i;
        LETTER[(uint8_t)bases[i]] = LETTER[(uint8_t)bases[i] + 32] = 1;
        ALLELE[(uint8_t)bases[i]] = ALLELE[(uint8_t)bases[i] + 32] = (uint8_t)(i + 1);
    }
#ifdef HAVE_AVX512_PROBE
    __builtin_cpu_init();
    avx512_probe = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("bmi");
#endif
    LANE_LIMIT = 0;
    for (int p = 1; p <= PERIODS; p++) LANE_LIMIT |= (uint64_t)(max_breaks(p) + 1) << (8 * (8 - p));
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "K", K) < 0 || PyModule_AddIntConstant(m, "W", W) < 0
        || PyModule_AddIntConstant(m, "POS_BITS", POS_BITS) < 0
        || PyModule_AddIntConstant(m, "PERIODS", PERIODS) < 0
        || PyModule_AddIntConstant(m, "BREAKS_P1", BREAKS_P1) < 0
        || PyModule_AddIntConstant(m, "BREAKS", BREAKS) < 0
        || PyModule_AddIntConstant(m, "LC_PERIODS", LC_PERIODS) < 0
        || PyModule_AddIntConstant(m, "LC_MISMATCHES", LC_MISMATCHES) < 0
        || PyModule_AddIntConstant(m, "ALLELE_SIDE", ALLELE_SIDE) < 0
        || PyModule_AddIntConstant(m, "ALLELE_MAX", ALLELE_MAX) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
