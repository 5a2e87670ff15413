/*
 * An inbound batch's lines read, checked, resolved and counted in one streaming pass
 * (audiencehub/people/inbound_pass.py drives it; the SQL plan of inbound_rows.py and
 * inbound_batch.py says what every step means, and a differential test holds the two
 * to the same receipts and effects).
 *
 * The files are read a block of 32 MB of whole lines at a time. Every thread finds
 * every line of the block and hashes its ID (the text before the first TAB); a line
 * belongs to the thread its ID hashes to, which alone checks it, resolves it, counts it
 * and keeps its words, so no two threads write the same slot and nothing is merged but
 * the sums and the first problems. A user's lines reach its thread in their order, so
 * its 201st line is known when it is read. Lines go through in groups of 16, their
 * users' slots fetched ahead, and words are applied 256 at a time, so that the cache
 * misses of a group overlap.
 *
 * The C's limits (MAX_LINE_BYTES, MAX_USER_ID) are those of audiencehub.formats.inbound.
 *
 * Each distinct trait item is judged once, by the reference parser in Python (the
 * ``judge`` callback, under a lock), and its verdict kept in the thread's own table.
 * IDs and items are compared on two 64-bit hashes of their text (as the plan floor
 * joined on them): two IDs are taken for one only if both hashes collide, about 1 in
 * 10^23 for 10^8 IDs.
 *
 * A line this pass does not read as the SQL plan would (a CR, U+0001, invalid
 * UTF-8, an ID beyond ASCII, a non-ASCII line without an ASCII ID, a line longer than a
 * block) stops it with PASS_ELSEWHERE, and tables past the budget with PASS_NO_MEMORY:
 * the caller then reads the batch by the SQL plan, which sends such lines to the
 * reference parser, and spills. Nothing the pass does is seen before it ends well.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS 8
#define MAX_FILES 4096
#define MAX_LINE_BYTES 102400
#define MAX_USER_ID 512
#define MAX_ITEMS 65536 /* a line of MAX_LINE_BYTES holds at most 51,201 */
#define FIRST_PROBLEMS 20
#define GROUP 16   /* lines whose users are looked up together */
#define WAITING 256 /* words applied together */

enum { PASS_OK = 0, PASS_ELSEWHERE = 1, PASS_NO_MEMORY = -1, PASS_UNREADABLE = -2 };

/* What a problem says (inbound_pass.py words it as the SQL plan does). */
enum {
    P_LONG, P_NO_TAB, P_NO_ID, P_ID_LONG, P_CONTROL, P_COLON, P_QUOTE, /* the line's checks */
    P_ITEM,        /* an item's error: detail is its verdict's code */
    P_CROWDED,     /* more than the limit of lines for one user */
    P_NOT_VISITOR, /* not a 38-digit visitor ID */
    P_UNSEEN,      /* a visitor ID the service has not seen: the text is quoted */
    P_FAILED,      /* detail: traits of another source */
    P_NO_TRAIT,
};

/* Counters (pass_counts' order: the lines, the receipt's in inbound_batch.COUNTED's order,
 * then the sizes of what the pass hands over). */
enum {
    C_LINES, C_FORMAT, C_INVALID, C_UNSEEN, C_REALIZED, C_REMOVED, C_FAILED, C_USERS_FAILED,
    C_SIGNALS, C_UNUSED, C_RECORDS, C_DEVICES, C_NO_TRAIT, C_WORDS, C_PAIRS, C_NEW, C_KINDS
};

/* A verdict, as the judge packs it. */
#define V_REF 1u
#define V_REMOVAL 2u
#define V_NO_TRAIT 4u
#define V_FOREIGN 8u
#define V_PAIR 16u
#define V_TESTED 32u
#define V_ERROR 64u
#define V_TRAIT(v) ((uint32_t)(((v) >> 8) & 0xffffffffu))
#define V_CODE(v) ((uint32_t)((uint64_t)(v) >> 40))

/* the flags of a user's line count */
#define U_SEEN (1u << 31)
#define U_MATCHED (1u << 30)
#define U_STORED (1u << 29)
#define U_LINES 0x0fffffffu

typedef int64_t (*judge_fn)(const char *item, int64_t length);

typedef struct {
    uint64_t h1, h2;
    uint32_t row, lines;
} user_slot;

/* An ID the graph does not know. For a customer-ID source, ``row`` is the user it will
 * be (the graph's rows first) and its text is kept at ``offset`` in the thread's arena. */
typedef struct {
    uint64_t h1, h2;
    int64_t first_k;
    uint64_t offset;
    uint32_t lines, row, length, pad;
} unknown_slot;

typedef struct {
    uint64_t key, val; /* (row + 1) << 32 | trait; k * 2 + removal */
} word_slot;

typedef struct {
    uint64_t h1, h2;
    int64_t verdict;
} item_slot;

typedef struct {
    int64_t k;
    int32_t rank, kind;
    int64_t detail;
    uint32_t length; /* of the ID quoted */
    char id[MAX_USER_ID];
} problem;

typedef struct {
    int64_t k;
    uint32_t row, code, pos, pad;
} pair_row;

typedef struct pass_state pass_state;

typedef struct {
    pass_state *s;
    int t;
    word_slot *words;
    uint64_t words_mask, words_count;
    unknown_slot *unknown;
    uint64_t unknown_mask, unknown_count;
    item_slot *items;
    uint64_t items_mask, items_count;
    pair_row *pairs;
    int64_t pairs_count, pairs_room;
    char *arena; /* the new IDs' texts */
    uint64_t arena_used, arena_room;
    int64_t number; /* the last line number of the block read */
    word_slot wait[WAITING];
    int waiting;
    problem problems[FIRST_PROBLEMS];
    int problems_count;
    int64_t counts[C_KINDS];
    /* one line's items */
    int64_t verdicts[MAX_ITEMS];
    uint32_t seen_code[1u << 17], seen_stamp[1u << 17], stamp;
    int status;
} part;

struct pass_state {
    user_slot *users;
    uint64_t users_mask;
    int64_t *ids; /* the users' ids by row; the new users' after pass_set_new */
    int64_t rows, capacity_rows, new_rows;
    int threads, device, sync, limit;
    judge_fn judge;
    pthread_mutex_t judging;
    atomic_int stop;
    atomic_uint next_row;
    int64_t budget;
    atomic_llong used; /* bytes of the tables, never past the budget */
    char *paths[MAX_FILES];
    int files;
    part *part[MAX_THREADS];
    /* the block of lines every thread reads, and where it is */
    const char *block;
    size_t block_len;
    int64_t block_first, per_file;
    uint32_t block_file;
    int done, open, abandoned;
    uint64_t bytes, bytes_read; /* of all the files, and of those read so far */
    int reserved;
    pthread_barrier_t start, end;
    pthread_mutex_t gate_lock; /* the threads wait at the gate until all are made */
    pthread_cond_t gate;
};

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline void hash2(const char *p, size_t n, uint64_t *h1, uint64_t *h2) {
    uint64_t a = 0x9e3779b97f4a7c15ULL ^ n, b = 0xc2b2ae3d27d4eb4fULL ^ (n << 1);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        a = (a ^ w) * 0x9e3779b97f4a7c15ULL;
        a ^= a >> 29;
        b = (b ^ w) * 0xff51afd7ed558ccdULL;
        b ^= b >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    *h1 = mix(a ^ w);
    *h2 = mix(b ^ w ^ 0x165667b19e3779f9ULL) | 1; /* never 0: (0, 0) is an empty slot */
}

/* Zeroed memory, on huge pages where the kernel grants them (look-ups land at random). */
static void *table_alloc(size_t bytes) {
    if (!bytes) bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static void table_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 1);
}

/* A table within the state's budget (NULL past it: the caller reads the batch by SQL). */
static void *budget_alloc(pass_state *s, size_t bytes) {
    if (atomic_fetch_add(&s->used, (long long)bytes) + (long long)bytes > s->budget) {
        atomic_fetch_sub(&s->used, (long long)bytes);
        return NULL;
    }
    void *p = table_alloc(bytes);
    if (!p) atomic_fetch_sub(&s->used, (long long)bytes);
    return p;
}

static void budget_free(pass_state *s, void *p, size_t bytes) {
    if (!p) return;
    table_free(p, bytes);
    atomic_fetch_sub(&s->used, (long long)bytes);
}

static uint64_t capacity_for(uint64_t n) {
    uint64_t c = 1024;
    while (c < n + n / 2) c <<= 1;
    return c;
}

void pass_close(pass_state *s);

/* A state for ``rows`` known users of the namespace (the threads' tables come with
 * pass_parts). */
pass_state *pass_open(int64_t rows, int threads, int device, int sync, int limit, judge_fn judge,
                      int64_t budget) {
    if (threads < 1 || threads > MAX_THREADS || rows < 0 || rows >= (1LL << 31)) return NULL;
    pass_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->judging, NULL);
    s->budget = budget;
    uint64_t cap = capacity_for((uint64_t)rows);
    s->users_mask = cap - 1;
    s->users = budget_alloc(s, cap * sizeof *s->users);
    s->ids = budget_alloc(s, ((size_t)rows + 1) * sizeof *s->ids);
    s->capacity_rows = rows;
    s->threads = threads;
    s->device = device;
    s->sync = sync;
    s->limit = limit;
    s->judge = judge;
    if (!s->users || !s->ids) {
        pass_close(s);
        return NULL;
    }
    return s;
}

/* The threads' tables, with room for about ``words`` (user, trait) words in all (a
 * guess: they grow past it); 0, or PASS_NO_MEMORY past the budget. */
int pass_parts(pass_state *s, int64_t words) {
    int ok = 1;
    for (int t = 0; t < s->threads && ok; t++) {
        part *q = s->part[t] = budget_alloc(s, sizeof(part));
        if (!q) {
            ok = 0;
            break;
        }
        q->s = s;
        q->t = t;
        uint64_t room = capacity_for((uint64_t)words / (uint64_t)s->threads);
        q->words_mask = room - 1;
        q->words = budget_alloc(s, room * sizeof *q->words);
        q->unknown_mask = 1023;
        q->unknown = budget_alloc(s, 1024 * sizeof *q->unknown);
        q->items_mask = 1023;
        q->items = budget_alloc(s, 1024 * sizeof *q->items);
        q->pairs_room = 4096;
        q->pairs = budget_alloc(s, (size_t)q->pairs_room * sizeof *q->pairs);
        ok = q->words && q->unknown && q->items && q->pairs;
    }
    return ok ? PASS_OK : PASS_NO_MEMORY;
}

/* A batch of the graph's IDs (Arrow string buffers, 32-bit offsets) and their ids. */
int pass_add_users(pass_state *s, const char *data, const int32_t *offsets, const int64_t *ids,
                   int64_t n) {
    if (s->rows + n > s->capacity_rows) return -1;
    uint64_t h1[GROUP], h2[GROUP];
    for (int64_t first = 0; first < n; first += GROUP) {
        int m = n - first < GROUP ? (int)(n - first) : GROUP;
        for (int g = 0; g < m; g++) {
            int64_t i = first + g;
            hash2(data + offsets[i], (size_t)(offsets[i + 1] - offsets[i]), &h1[g], &h2[g]);
            __builtin_prefetch(&s->users[h1[g] & s->users_mask], 1);
        }
        for (int g = 0; g < m; g++) {
            uint64_t j = h1[g] & s->users_mask;
            while (s->users[j].h2) {
                if (s->users[j].h1 == h1[g] && s->users[j].h2 == h2[g]) break; /* listed twice */
                j = (j + 1) & s->users_mask;
            }
            if (s->users[j].h2) continue;
            s->users[j] = (user_slot){h1[g], h2[g], (uint32_t)s->rows, 0};
            s->ids[s->rows++] = ids[first + g];
        }
    }
    return 0;
}

static user_slot *find_user(const pass_state *s, uint64_t h1, uint64_t h2) {
    for (uint64_t j = h1 & s->users_mask; s->users[j].h2; j = (j + 1) & s->users_mask)
        if (s->users[j].h1 == h1 && s->users[j].h2 == h2) return &s->users[j];
    return NULL;
}

/* Doubles an open-addressed table of ``size``-byte slots keyed by their first two words. */
static void *grown(pass_state *s, void *table, uint64_t *mask, size_t size) {
    uint64_t cap = (*mask + 1) * 2, new_mask = cap - 1;
    char *to = budget_alloc(s, cap * size);
    if (!to) return NULL;
    for (uint64_t i = 0; i <= *mask; i++) {
        const char *slot = (const char *)table + i * size;
        uint64_t h1, h2;
        memcpy(&h1, slot, 8);
        memcpy(&h2, slot + 8, 8);
        if (!h2 && !h1) continue;
        uint64_t j = mix(h1 ^ h2) & new_mask;
        for (;;) {
            uint64_t a, b;
            memcpy(&a, to + j * size, 8);
            memcpy(&b, to + j * size + 8, 8);
            if (!a && !b) break;
            j = (j + 1) & new_mask;
        }
        memcpy(to + j * size, slot, size);
    }
    budget_free(s, table, (*mask + 1) * size);
    *mask = new_mask;
    return to;
}

/* The slot of (h1, h2) in such a table (empty if absent), growing it past two thirds. */
static void *slot_of(pass_state *s, void **table, uint64_t *mask, uint64_t *count, size_t size,
                     uint64_t h1, uint64_t h2, int *fresh) {
    if ((*count + 1) * 3 > *mask * 2) {
        void *to = grown(s, *table, mask, size);
        if (!to) return NULL;
        *table = to;
    }
    char *base = *table;
    for (uint64_t j = mix(h1 ^ h2) & *mask;; j = (j + 1) & *mask) {
        char *slot = base + j * size;
        uint64_t a, b;
        memcpy(&a, slot, 8);
        memcpy(&b, slot + 8, 8);
        if (a == h1 && b == h2) {
            *fresh = 0;
            return slot;
        }
        if (!a && !b) {
            memcpy(slot, &h1, 8);
            memcpy(slot + 8, &h2, 8);
            (*count)++;
            *fresh = 1;
            return slot;
        }
    }
}

/* The verdict on an item, from the thread's table or (the first time) the judge. */
static int64_t verdict_of(part *q, const char *p, size_t n) {
    uint64_t h1, h2;
    hash2(p, n, &h1, &h2);
    int fresh;
    item_slot *slot = slot_of(q->s, (void **)&q->items, &q->items_mask, &q->items_count,
                              sizeof *slot, h1, h2, &fresh);
    if (!slot) return -2;
    if (fresh) {
        pthread_mutex_lock(&q->s->judging);
        int64_t v = q->s->judge(p, (int64_t)n);
        pthread_mutex_unlock(&q->s->judging);
        slot->verdict = v;
    }
    return slot->verdict;
}

/* One of the thread's first problems (``id``: the ID the message quotes, if any). */
static void note(part *q, int64_t k, int rank, int kind, int64_t detail, const char *id,
                 uint32_t length) {
    if (q->problems_count == FIRST_PROBLEMS) return;
    problem *p = &q->problems[q->problems_count++];
    p->k = k;
    p->rank = rank;
    p->kind = kind;
    p->detail = detail;
    p->length = length < MAX_USER_ID ? length : MAX_USER_ID;
    if (id) memcpy(p->id, id, p->length);
}

/* A (user, trait) word applied: the later word (or, within a line, the removal) wins. */
/* The thread's words moved to a table of ``cap`` slots (a power of two). */
static int rehash_words(part *q, uint64_t cap) {
    uint64_t mask = cap - 1;
    word_slot *to = budget_alloc(q->s, cap * sizeof *to);
    if (!to) return 0;
    for (uint64_t i = 0; i <= q->words_mask; i++) {
        if (!q->words[i].key) continue;
        uint64_t j = mix(q->words[i].key) & mask;
        while (to[j].key) j = (j + 1) & mask;
        to[j] = q->words[i];
    }
    budget_free(q->s, q->words, (q->words_mask + 1) * sizeof *q->words);
    q->words = to;
    q->words_mask = mask;
    return 1;
}

static int apply_word(part *q, uint64_t key, uint64_t val) {
    if ((q->words_count + 1) * 3 > q->words_mask * 2 && !rehash_words(q, (q->words_mask + 1) * 2))
        return 0;
    uint64_t j = mix(key) & q->words_mask;
    while (q->words[j].key && q->words[j].key != key) j = (j + 1) & q->words_mask;
    if (!q->words[j].key) {
        q->words[j] = (word_slot){key, val};
        q->words_count++;
    } else if (val > q->words[j].val) {
        q->words[j].val = val;
    }
    return 1;
}

/* The words waiting to be applied, their slots fetched ahead: applied a group at a time
 * (the order does not matter, the larger value wins), their cache misses overlap. */
static int flush_words(part *q) {
    for (int i = 0; i < q->waiting; i++)
        if (!apply_word(q, q->wait[i].key, q->wait[i].val)) return 0;
    q->waiting = 0;
    return 1;
}

static int word(part *q, uint32_t row, uint32_t trait, uint64_t val) {
    if (q->waiting == WAITING && !flush_words(q)) return 0;
    uint64_t key = ((uint64_t)(row + 1) << 32) | trait;
    __builtin_prefetch(&q->words[mix(key) & q->words_mask], 1);
    q->wait[q->waiting++] = (word_slot){key, val};
    return 1;
}

static int add_pair(part *q, int64_t k, uint32_t row, uint32_t code, uint32_t pos) {
    if (q->pairs_count == q->pairs_room) {
        pair_row *to = budget_alloc(q->s, (size_t)q->pairs_room * 2 * sizeof *to);
        if (!to) return 0;
        memcpy(to, q->pairs, (size_t)q->pairs_count * sizeof *to);
        budget_free(q->s, q->pairs, (size_t)q->pairs_room * sizeof *to);
        q->pairs = to;
        q->pairs_room *= 2;
    }
    q->pairs[q->pairs_count++] = (pair_row){k, row, code, pos, 0};
    return 1;
}

/* 38 digits, each half of 19 at most 2^63 - 1 (VisitorId.parse). */
static int visitor_valid(const char *p, size_t n) {
    if (n != 38) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return 0;
    for (int half = 0; half < 2; half++)
        if (memcmp(p + 19 * half, "9223372036854775807", 19) > 0) return 0;
    return 1;
}

static int utf8_valid(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
        else return 0;
        if (i + len > n) return 0;
        for (size_t j = 1; j < len; j++) {
            if ((p[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += len;
    }
    return 1;
}

static inline int blank_char(unsigned char c) {
    return c == ' ' || c == '\t' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1f);
}

/* The unknown ID's slot (for a customer-ID source, new ones numbered and their text kept). */
static unknown_slot *unknown_of(part *q, uint64_t h1, uint64_t h2, int64_t k, const char *id,
                                uint32_t length) {
    int fresh;
    unknown_slot *u = slot_of(q->s, (void **)&q->unknown, &q->unknown_mask, &q->unknown_count,
                              sizeof *u, h1, h2, &fresh);
    if (!u || !fresh || q->s->device) return u;
    if (q->arena_used + length > q->arena_room) {
        uint64_t room = q->arena_room ? q->arena_room * 2 : 1 << 16;
        while (room < q->arena_used + length) room *= 2;
        char *to = budget_alloc(q->s, room);
        if (!to) return NULL;
        if (q->arena) memcpy(to, q->arena, q->arena_used);
        budget_free(q->s, q->arena, q->arena_room);
        q->arena = to;
        q->arena_room = room;
    }
    memcpy(q->arena + q->arena_used, id, length);
    u->offset = q->arena_used;
    q->arena_used += length;
    u->first_k = k;
    u->length = length;
    u->row = (uint32_t)(q->s->rows + atomic_fetch_add(&q->s->next_row, 1));
    return u;
}

/* Whether any of the 8 bytes of ``w`` is zero. */
#define ZERO_BYTE(w) (((w) - 0x0101010101010101ULL) & ~(w) & 0x8080808080808080ULL)

/* Whether the line holds a CR or U+0001 (which the SQL plan's reader splits otherwise);
 * ``high``: whether it holds a byte beyond ASCII. Eight bytes at a time. */
static int odd_bytes(const char *p, size_t n, int *high) {
    uint64_t any = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        any |= w;
        if (ZERO_BYTE(w ^ 0x0d0d0d0d0d0d0d0dULL) || ZERO_BYTE(w ^ 0x0101010101010101ULL)) return 1;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r' || c == 0x01) return 1;
        any |= c;
    }
    *high = (any & 0x8080808080808080ULL) != 0;
    return 0;
}

/* A line of the thread's: where it is, its key, its first TAB and its ID's hashes. */
typedef struct {
    const char *p, *tab;
    size_t n;
    int64_t k;
    uint64_t h1, h2;
} pending;

/* One line of the thread's (without its LF). Returns 0, or a PASS_ status that stops
 * the pass. */
static int line(part *q, const pending *l) {
    pass_state *s = q->s;
    const char *p = l->p, *tab = l->tab;
    size_t n = l->n;
    int64_t k = l->k;
    int high = 0;
    if (odd_bytes(p, n, &high)) return PASS_ELSEWHERE;
    size_t i = 0;
    while (i < n && blank_char((unsigned char)p[i])) i++;
    if (i == n) return 0; /* blank: numbered, not counted */
    size_t id_len = tab ? (size_t)(tab - p) : 0;
    if (high) {
        if (!utf8_valid((const unsigned char *)p, n)) return PASS_ELSEWHERE;
        /* the reference parser's alone unless the ID is a non-blank ASCII text */
        if (!tab || id_len == 0) return PASS_ELSEWHERE;
        int ascii = 1, filled = 0;
        for (size_t j = 0; j < id_len; j++) {
            unsigned char c = (unsigned char)p[j];
            if (c >= 0x80) ascii = 0;
            else if (!blank_char(c)) filled = 1;
        }
        if (!ascii || !filled) return PASS_ELSEWHERE;
    }
    const char *traits = tab ? tab + 1 : p + n;
    size_t traits_len = (size_t)(p + n - traits);
    size_t quotes = 0;
    if (tab && memchr(traits, '"', traits_len))
        for (size_t j = 0; j < traits_len; j++) quotes += traits[j] == '"';
    int error = -1;
    int64_t detail = 0;
    if (n > MAX_LINE_BYTES) error = P_LONG;
    else if (!tab) error = P_NO_TAB;
    else if (id_len == 0) error = P_NO_ID;
    else if (id_len > MAX_USER_ID) error = P_ID_LONG, detail = (int64_t)id_len;
    else {
        int colon = 0, percent = 0;
        for (size_t j = 0; j < id_len && error < 0; j++) {
            unsigned char c = (unsigned char)p[j];
            if (c < 0x20 || c == 0x7f) error = P_CONTROL;
            else if (c == ':') colon = 1;
            else if (c == '%' && j + 2 < id_len && p[j + 1] == '3' && (p[j + 2] | 0x20) == 'a')
                percent = 1;
        }
        if (error < 0 && (colon || percent)) error = P_COLON;
        if (error < 0 && quotes % 2) error = P_QUOTE;
    }
    q->counts[C_LINES]++;
    if (error >= 0) {
        q->counts[C_FORMAT]++;
        note(q, k, 0, error, detail, NULL, 0);
        return 0;
    }
    uint64_t h1 = l->h1, h2 = l->h2;

    /* the items: up to a comma that no quoted run holds (empty ones skipped), or at
     * every comma when the traits hold no quote */
    int items = 0;
    const char *end = traits + traits_len, *r = traits;
    int64_t first_error = -1;
    for (;;) {
        const char *start = r;
        if (quotes) {
            while (r < end && *r != ',') {
                if (*r == '"') {
                    const char *close = memchr(r + 1, '"', (size_t)(end - r - 1));
                    r = close ? close + 1 : end;
                } else {
                    r++;
                }
            }
        } else {
            const char *comma = memchr(r, ',', (size_t)(end - r));
            r = comma ? comma : end;
        }
        if (!quotes || r > start) {
            int64_t v = verdict_of(q, start, (size_t)(r - start));
            if (v < 0) return v == -2 ? PASS_NO_MEMORY : PASS_ELSEWHERE;
            if ((v & V_ERROR) && first_error < 0) first_error = v;
            q->verdicts[items++] = v;
        }
        if (r >= end) break;
        r++; /* the comma */
        if (quotes && r >= end) break;
    }
    if (first_error >= 0) {
        q->counts[C_FORMAT]++;
        note(q, k, 0, P_ITEM, V_CODE(first_error), NULL, 0);
        return 0;
    }

    /* the user */
    uint32_t row, place, *lines;
    user_slot *user = find_user(s, h1, h2);
    if (user) {
        lines = &user->lines;
        row = user->row;
    } else {
        if (s->device && !visitor_valid(p, id_len)) {
            q->counts[C_INVALID]++;
            note(q, k, 0, P_NOT_VISITOR, 0, NULL, 0);
            return 0;
        }
        unknown_slot *u = unknown_of(q, h1, h2, k, p, (uint32_t)id_len);
        if (!u) return PASS_NO_MEMORY;
        lines = &u->lines;
        row = u->row;
    }
    *lines |= U_SEEN;
    /* a user's count of lines stops at its largest value, far past the limit */
    place = (*lines & U_LINES) + ((*lines & U_LINES) < U_LINES);
    *lines = (*lines & ~U_LINES) | place;
    if (place > (uint32_t)s->limit) {
        q->counts[C_FORMAT]++;
        note(q, k, 0, P_CROWDED, 0, NULL, 0);
        return 0;
    }
    if (!user && s->device) {
        q->counts[C_UNSEEN]++;
        note(q, k, 0, P_UNSEEN, 0, p, (uint32_t)id_len);
        return 0;
    }

    /* a matched line: its counts, words and pairs */
    *lines |= U_MATCHED;
    int64_t n_realize = 0, n_remove = 0, added = 0, dropped = 0, failed = 0, n_pairs = 0,
            untested = 0;
    if (++q->stamp == 0) {
        memset(q->seen_stamp, 0, sizeof q->seen_stamp);
        q->stamp = 1;
    }
    for (int j = 0; j < items; j++) {
        int64_t v = q->verdicts[j];
        if (v & V_REF) {
            int removal = (v & V_REMOVAL) != 0;
            if (removal) n_remove++;
            else n_realize++;
            int has_trait = !(v & V_NO_TRAIT);
            if (has_trait && !removal) added++;
            if (has_trait && removal && s->sync) dropped++;
            if ((v & V_FOREIGN) && (!removal || s->sync)) failed++;
            if (has_trait && (!removal || s->sync) &&
                !word(q, row, V_TRAIT(v), (uint64_t)k * 2 + (uint64_t)removal))
                return PASS_NO_MEMORY;
        } else if (v & V_PAIR) {
            uint32_t code = V_CODE(v), h = (uint32_t)mix(code) & ((1u << 17) - 1);
            while (q->seen_stamp[h] == q->stamp && q->seen_code[h] != code)
                h = (h + 1) & ((1u << 17) - 1);
            if (q->seen_stamp[h] == q->stamp) continue; /* the pair again: its first place */
            q->seen_stamp[h] = q->stamp;
            q->seen_code[h] = code;
            n_pairs++;
            if (!(v & V_TESTED)) untested++;
            if (!add_pair(q, k, row, code, (uint32_t)j + 1)) return PASS_NO_MEMORY;
        }
    }
    int stored = added > 0 || dropped > 0 || n_pairs > 0;
    if (failed > 0) {
        q->counts[C_USERS_FAILED]++;
        note(q, k, 1, P_FAILED, failed, NULL, 0);
    }
    if (!stored) note(q, k, 2, P_NO_TRAIT, 0, NULL, 0);
    q->counts[C_REALIZED] += added;
    q->counts[C_REMOVED] += dropped;
    q->counts[C_FAILED] += failed;
    q->counts[C_SIGNALS] += n_realize + n_remove + n_pairs;
    q->counts[C_UNUSED] += n_realize + (s->sync ? n_remove : 0) - added - dropped - failed + untested;
    if (stored) {
        q->counts[C_RECORDS]++;
        *lines |= U_STORED;
    } else {
        q->counts[C_NO_TRAIT]++;
    }
    return 0;
}

/* The lines of a group, the second stage: each checked, resolved and counted. */
static int lines(part *q, const pending *group, int m) {
    for (int i = 0; i < m; i++) {
        int status = line(q, &group[i]);
        if (status) return status;
    }
    return flush_words(q) ? PASS_OK : PASS_NO_MEMORY;
}

/* The lines of the current block that are part ``q``'s: the first stage finds each
 * line and its TAB and hashes its ID (the whole line when it has no TAB), and keeps the
 * thread's own, their users' slots fetched ahead. */
static void read_block(part *q) {
    pass_state *s = q->s;
    if (q->status) return;
    const char *p = s->block, *end = p + s->block_len;
    int64_t number = s->block_first, base = (int64_t)s->block_file * s->per_file;
    pending group[GROUP];
    int m = 0, status = PASS_OK;
    while (p < end && status == PASS_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol ? eol : end;
        number++;
        if (stop > p) {
            size_t n = (size_t)(stop - p);
            const char *tab = memchr(p, '\t', n);
            uint64_t h1, h2;
            hash2(p, tab ? (size_t)(tab - p) : n, &h1, &h2);
            if ((int)((h2 >> 56) % (uint64_t)s->threads) == q->t) {
                __builtin_prefetch(&s->users[h1 & s->users_mask]);
                group[m++] = (pending){p, tab, n, base + number, h1, h2};
                if (m == GROUP) {
                    status = lines(q, group, m);
                    m = 0;
                }
            }
        }
        if ((number & 1023) == 0 && atomic_load(&s->stop)) return;
        p = stop + 1;
    }
    if (status == PASS_OK && m) status = lines(q, group, m);
    if (status) {
        q->status = status;
        atomic_store(&s->stop, 1);
    }
    q->number = number;
}

static void *worker(void *arg) {
    part *q = arg;
    pass_state *s = q->s;
    pthread_mutex_lock(&s->gate_lock);
    while (!s->open) pthread_cond_wait(&s->gate, &s->gate_lock);
    pthread_mutex_unlock(&s->gate_lock);
    if (s->abandoned) return NULL; /* not every thread was made: none reads */
    for (;;) {
        pthread_barrier_wait(&s->start);
        if (s->done) return NULL;
        read_block(q);
        pthread_barrier_wait(&s->end);
    }
}

/* Lets the threads made through the gate (``abandoned``: to end at once). */
static void open_gate(pass_state *s, int abandoned) {
    pthread_mutex_lock(&s->gate_lock);
    s->abandoned = abandoned;
    s->open = 1;
    pthread_cond_broadcast(&s->gate);
    pthread_mutex_unlock(&s->gate_lock);
}

/* A file for the pass, read in the order added. */
int pass_add_file(pass_state *s, const char *path) {
    if (s->files == MAX_FILES) return PASS_ELSEWHERE;
    struct stat st;
    if (stat(path, &st) < 0) return PASS_UNREADABLE;
    s->bytes += (uint64_t)st.st_size;
    if (!(s->paths[s->files] = strdup(path))) return PASS_NO_MEMORY;
    s->files++;
    return PASS_OK;
}

#define BLOCK (32u << 20)

/* After the first block, room for the words the whole batch will have at the block's
 * rate, a tenth more: the tables start small, and growing them one doubling at a time
 * would move every word several times. */
static int reserve_words(pass_state *s) {
    s->reserved = 1;
    uint64_t words = 0;
    for (int t = 0; t < s->threads; t++) words += s->part[t]->words_count;
    if (!s->bytes_read) return 1;
    double expected = (double)words * (double)s->bytes / (double)s->bytes_read * 1.1;
    uint64_t per_thread = (uint64_t)(expected / s->threads);
    for (int t = 0; t < s->threads; t++) {
        part *q = s->part[t];
        uint64_t cap = capacity_for(per_thread);
        if (cap > q->words_mask + 1 && !rehash_words(q, cap)) return 0;
    }
    return 1;
}

/* One file, a block of whole lines at a time, each block read by every thread. */
static int read_file(pass_state *s, uint32_t f, char *buffer) {
    int fd = open(s->paths[f], O_RDONLY);
    if (fd < 0) return PASS_UNREADABLE;
    size_t have = 0;
    int64_t first = 0;
    int eof = 0, status = PASS_OK;
    while (status == PASS_OK) {
        while (!eof && have < BLOCK) {
            ssize_t got = read(fd, buffer + have, BLOCK - have);
            if (got < 0) {
                close(fd);
                return PASS_UNREADABLE;
            }
            if (got == 0) eof = 1;
            have += (size_t)got;
        }
        if (!have) break;
        size_t length = have;
        if (!eof) {
            const char *last = memrchr(buffer, '\n', have);
            if (!last) { /* a line longer than a block: for the SQL plan to refuse */
                status = PASS_ELSEWHERE;
                break;
            }
            length = (size_t)(last - buffer) + 1;
        }
        s->block = buffer;
        s->block_len = length;
        s->block_file = f;
        s->block_first = first;
        pthread_barrier_wait(&s->start);
        read_block(s->part[0]);
        pthread_barrier_wait(&s->end);
        if (atomic_load(&s->stop)) break;
        s->bytes_read += length;
        if (!s->reserved && !reserve_words(s)) {
            status = PASS_NO_MEMORY;
            break;
        }
        first = s->part[0]->number;
        memmove(buffer, buffer + length, have - length);
        have -= length;
    }
    close(fd);
    return status;
}

/* The pass over the files added, on the state's threads; ``per_file``: a line's key is
 * its file's index times it plus its number. */
int pass_run(pass_state *s, int64_t per_file) {
    char *buffer = budget_alloc(s, BLOCK);
    if (!buffer) return PASS_NO_MEMORY;
    s->per_file = per_file;
    pthread_barrier_init(&s->start, NULL, (unsigned)s->threads);
    pthread_barrier_init(&s->end, NULL, (unsigned)s->threads);
    pthread_mutex_init(&s->gate_lock, NULL);
    pthread_cond_init(&s->gate, NULL);
    pthread_t threads[MAX_THREADS];
    int started = 1, status = PASS_OK;
    for (; started < s->threads; started++)
        if (pthread_create(&threads[started], NULL, worker, s->part[started])) break;
    if (started < s->threads) { /* too few threads: their users' lines would go unread */
        open_gate(s, 1);
        status = PASS_NO_MEMORY;
    } else {
        open_gate(s, 0);
        for (int f = 0; f < s->files && status == PASS_OK && !atomic_load(&s->stop); f++)
            status = read_file(s, (uint32_t)f, buffer);
        s->done = 1;
        pthread_barrier_wait(&s->start);
    }
    for (int t = 1; t < started; t++) pthread_join(threads[t], NULL);
    pthread_cond_destroy(&s->gate);
    pthread_mutex_destroy(&s->gate_lock);
    pthread_barrier_destroy(&s->start);
    pthread_barrier_destroy(&s->end);
    budget_free(s, buffer, BLOCK);
    if (status != PASS_OK) return status;
    for (int t = 0; t < s->threads; t++) {
        int st = s->part[t]->status;
        if (st == PASS_NO_MEMORY || st == PASS_UNREADABLE) return st;
        if (st) status = st;
    }
    s->new_rows = atomic_load(&s->next_row);
    return status;
}

/* The counters (C_KINDS values, summed over the threads). */
void pass_counts(const pass_state *s, int64_t *out) {
    memset(out, 0, C_KINDS * sizeof *out);
    for (int t = 0; t < s->threads; t++) {
        const part *q = s->part[t];
        for (int c = 0; c < C_KINDS; c++) out[c] += q->counts[c];
        out[C_WORDS] += (int64_t)q->words_count;
        out[C_PAIRS] += q->pairs_count;
        out[C_NEW] += s->device ? 0 : (int64_t)q->unknown_count;
        for (uint64_t i = 0; i <= q->unknown_mask; i++)
            if (q->unknown[i].h2 && (q->unknown[i].lines & U_STORED)) out[C_DEVICES]++;
    }
    for (uint64_t j = 0; j <= s->users_mask; j++)
        if (s->users[j].h2 && (s->users[j].lines & U_STORED)) out[C_DEVICES]++;
}

/* Each thread's first problems: up to FIRST_PROBLEMS per thread, as (k, rank, kind,
 * detail, thread, index, length) rows of 7 values; returns how many. */
int pass_problems(const pass_state *s, int64_t *out) {
    int n = 0;
    for (int t = 0; t < s->threads; t++) {
        const part *q = s->part[t];
        for (int i = 0; i < q->problems_count; i++, n++) {
            const problem *p = &q->problems[i];
            int64_t *row = out + 7 * n;
            row[0] = p->k;
            row[1] = p->rank;
            row[2] = p->kind;
            row[3] = p->detail;
            row[4] = t;
            row[5] = i;
            row[6] = p->length;
        }
    }
    return n;
}

/* The ID a thread's problem quotes. */
const char *pass_problem_text(const pass_state *s, int64_t t, int64_t i) {
    return s->part[t]->problems[i].id;
}

/* A new ID's text, kept by thread ``t`` at ``offset``. */
const char *pass_new_text(const pass_state *s, int64_t t, int64_t offset) {
    return s->part[t]->arena + offset;
}

/* A customer-ID source's new IDs: (first k, thread, offset, length, row) rows of 5, as
 * many as C_NEW counts. */
void pass_new(const pass_state *s, int64_t *out) {
    int64_t n = 0;
    for (int t = 0; t < s->threads; t++) {
        const part *q = s->part[t];
        for (uint64_t i = 0; i <= q->unknown_mask; i++) {
            const unknown_slot *u = &q->unknown[i];
            if (!u->h2) continue;
            int64_t *row = out + 5 * n++;
            row[0] = u->first_k;
            row[1] = t;
            row[2] = (int64_t)u->offset;
            row[3] = u->length;
            row[4] = u->row;
        }
    }
}

/* The new users' ids, by their rows (after the graph's): ``ids[row - rows]``. */
int pass_set_new(pass_state *s, const int64_t *ids, int64_t n) {
    int64_t *to = table_alloc(((size_t)(s->rows + n) + 1) * sizeof *to);
    if (!to) return PASS_NO_MEMORY;
    memcpy(to, s->ids, (size_t)s->rows * sizeof *to);
    memcpy(to + s->rows, ids, (size_t)n * sizeof *to);
    budget_free(s, s->ids, ((size_t)s->capacity_rows + 1) * sizeof *s->ids);
    atomic_fetch_add(&s->used, (long long)(((size_t)(s->rows + n) + 1) * sizeof *to));
    s->ids = to;
    s->capacity_rows = s->rows + n;
    return PASS_OK;
}

/* The known users with a flag (U_SEEN, U_MATCHED) set: their ids; returns how many. */
int64_t pass_users(const pass_state *s, uint32_t flag, int64_t *out) {
    int64_t n = 0;
    for (uint64_t j = 0; j <= s->users_mask; j++)
        if (s->users[j].h2 && (s->users[j].lines & flag)) {
            if (out) out[n] = s->ids[s->users[j].row];
            n++;
        }
    if (!s->device)
        for (int t = 0; t < s->threads; t++) {
            const part *q = s->part[t];
            for (uint64_t i = 0; i <= q->unknown_mask; i++)
                if (q->unknown[i].h2 && (q->unknown[i].lines & flag) && flag != U_SEEN) {
                    if (out) out[n] = s->ids[q->unknown[i].row];
                    n++;
                }
        }
    return n;
}

/* Each row of ``users`` (n of them) replaced by its user's id, the ids fetched ahead:
 * the rows come in the tables' order, at random in the ids. */
static void rows_to_ids(const pass_state *s, int64_t *users, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (i + 16 < n) __builtin_prefetch(&s->ids[users[i + 16]]);
        users[i] = s->ids[users[i]];
    }
}

/* The last words (C_WORDS of them): users' ids, traits, and whether the trait is held. */
void pass_words(const pass_state *s, int64_t *users, int32_t *traits, uint8_t *held) {
    int64_t n = 0;
    for (int t = 0; t < s->threads; t++) {
        const part *q = s->part[t];
        for (uint64_t i = 0; i <= q->words_mask; i++) {
            const word_slot *w = &q->words[i];
            if (!w->key) continue;
            users[n] = (int64_t)(w->key >> 32) - 1;
            traits[n] = (int32_t)(w->key & 0xffffffffu);
            held[n] = !(w->val & 1);
            n++;
        }
    }
    rows_to_ids(s, users, n);
}

/* The matched lines' pairs (C_PAIRS of them): users' ids, line keys, codes, places. */
void pass_pairs(const pass_state *s, int64_t *users, int64_t *keys, int32_t *codes,
                int32_t *places) {
    int64_t n = 0;
    for (int t = 0; t < s->threads; t++) {
        const part *q = s->part[t];
        for (int64_t i = 0; i < q->pairs_count; i++, n++) {
            users[n] = q->pairs[i].row;
            keys[n] = q->pairs[i].k;
            codes[n] = (int32_t)q->pairs[i].code;
            places[n] = (int32_t)q->pairs[i].pos;
        }
    }
    rows_to_ids(s, users, n);
}

/* Frees what the hand-over no longer needs, so that DuckDB's work after it has the room:
 * ``what`` 1, the graph's table and the threads' unknown IDs and items (once the
 * counts, the problems, the new IDs and the flagged users are read); 2, the words
 * (once read). */
void pass_release(pass_state *s, int what) {
    if (what == 1) {
        budget_free(s, s->users, (s->users_mask + 1) * sizeof *s->users);
        s->users = NULL;
    }
    for (int t = 0; t < s->threads; t++) {
        part *q = s->part[t];
        if (!q) continue;
        if (what == 1) {
            budget_free(s, q->unknown, (q->unknown_mask + 1) * sizeof *q->unknown);
            budget_free(s, q->items, (q->items_mask + 1) * sizeof *q->items);
            budget_free(s, q->arena, q->arena_room);
            q->unknown = NULL;
            q->items = NULL;
            q->arena = NULL;
        } else if (what == 2) {
            budget_free(s, q->words, (q->words_mask + 1) * sizeof *q->words);
            q->words = NULL;
        }
    }
}

void pass_close(pass_state *s) {
    if (!s) return;
    budget_free(s, s->users, (s->users_mask + 1) * sizeof *s->users);
    budget_free(s, s->ids, ((size_t)s->capacity_rows + 1) * sizeof *s->ids);
    for (int t = 0; t < s->threads; t++) {
        part *q = s->part[t];
        if (!q) continue;
        budget_free(s, q->words, (q->words_mask + 1) * sizeof *q->words);
        budget_free(s, q->unknown, (q->unknown_mask + 1) * sizeof *q->unknown);
        budget_free(s, q->items, (q->items_mask + 1) * sizeof *q->items);
        budget_free(s, q->pairs, (size_t)q->pairs_room * sizeof *q->pairs);
        budget_free(s, q->arena, q->arena_room);
        budget_free(s, q, sizeof(part));
    }
    for (int f = 0; f < s->files; f++) free(s->paths[f]);
    pthread_mutex_destroy(&s->judging);
    free(s);
}

/* The bytes the pass's tables hold now. */
int64_t pass_used(pass_state *s) {
    return (int64_t)atomic_load(&s->used);
}
