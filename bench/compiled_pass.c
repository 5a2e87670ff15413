/*
 * The people ingest's plan floor (bench/people_pipeline.py, _PLAN) as one compiled
 * streaming pass: the same checks, items, ID resolution, lines per user, per-line
 * counts, last word per user and trait and receipt sums, each line handled once as
 * it is read, with two hash tables instead of joins and groupings.
 *
 * It measures what the design change docs/people-lake.md names would reach: it is
 * not the ingest (no reference parser for odd lines, no key-values, no rule traits,
 * no first reasons, no lake transaction), exactly as the plan floor is not.
 * bench/compiled_pass.py builds it with the machine's C compiler and drives it.
 *
 * An ID is resolved, as by the plan floor, on two 64-bit hashes of its text. The
 * users are split between the threads by the top byte of a hash: each thread reads
 * every line, and counts and keeps the last word only for its own users, so no
 * two threads write the same slot and nothing is merged. A line's number is its
 * byte offset in the file, which orders the lines as their numbers do, so a block
 * needs no count of the lines before it.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The checks' verdicts, in the order of the plan floor's CASE. */
enum { E_LONG, E_NO_TAB, E_NO_ID, E_CONTROL, E_COLON, E_QUOTE, E_KINDS };

#define MAX_PARTS 8
#define GROUP 16       /* lines whose IDs are looked up together */
#define MAX_WORDS 256  /* (user, trait) words of a group applied together */
#define ADDED (1u << 31) /* a slot's flag: a line of the user added an item */

/* A user the graph knows: the two hashes of its ID, its row, its lines (and ADDED). */
typedef struct {
    uint64_t h1, h2;
    uint32_t row;
    uint32_t lines;
} user_slot;

/* A user's last word on a trait: key (row + 1) << 32 | trait (0: an empty slot),
 * val the line's offset times two, plus one for a removal. */
typedef struct {
    uint64_t key, val;
} pair_slot;

/* One thread's share: its users' last words and the counts of their lines. */
typedef struct {
    pair_slot *pairs;
    uint64_t mask, count;
    int64_t unknown, added, removed, other;
    int failed;
} part;

typedef struct {
    user_slot *users;
    uint64_t mask;
    int64_t *ids; /* the users' ids, by row */
    int64_t rows, capacity_rows;
    int parts;
    part part[MAX_PARTS];
    /* the lines' own counts, kept by part 0 */
    int64_t lines, errors[E_KINDS], odd;
} pass_state;

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Two independent 64-bit hashes of a text. */
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
    *h2 = mix(b ^ w ^ 0x165667b19e3779f9ULL);
}

/* A table's memory, zeroed, on huge pages where the kernel grants them: its look-ups
 * land at random, and with 4 KB pages nearly each one also missed the TLB (on this
 * virtual machine a walk of two page tables). */
static void *table_alloc(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static void table_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes);
}

static uint64_t capacity_for(uint64_t n) {
    uint64_t c = 1024;
    while (c < n + n / 2) c <<= 1;
    return c;
}

void pass_close(pass_state *s);

/* A state for a graph of ``rows`` users, worked by ``parts`` threads, and room for
 * ``pairs`` (user, trait) pairs in all (a guess; the tables grow past it). */
pass_state *pass_open(int64_t rows, int parts, int64_t pairs) {
    if (parts < 1 || parts > MAX_PARTS) return NULL;
    pass_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    uint64_t cap = capacity_for((uint64_t)rows);
    s->mask = cap - 1;
    s->users = table_alloc(cap * sizeof *s->users);
    s->ids = table_alloc(((size_t)rows + 1) * sizeof *s->ids);
    s->capacity_rows = rows;
    s->parts = parts;
    int ok = s->users && s->ids;
    for (int t = 0; t < parts && ok; t++) {
        part *q = &s->part[t];
        uint64_t room = capacity_for((uint64_t)pairs / (uint64_t)parts);
        q->mask = room - 1;
        q->pairs = table_alloc(room * sizeof *q->pairs);
        ok = q->pairs != NULL;
    }
    if (!ok) {
        pass_close(s);
        return NULL;
    }
    return s;
}

/* A batch of the graph's IDs (Arrow string buffers) and their users' ids. The IDs
 * are hashed a group at a time and their slots fetched ahead, so that the group's
 * cache misses overlap instead of following one another. */
int pass_add_users(pass_state *s, const char *data, const int32_t *offsets, const int64_t *ids,
                   int64_t n) {
    if (s->rows + n > s->capacity_rows) return -1;
    uint64_t h1[GROUP], h2[GROUP];
    for (int64_t first = 0; first < n; first += GROUP) {
        int m = n - first < GROUP ? (int)(n - first) : GROUP;
        for (int g = 0; g < m; g++) {
            int64_t i = first + g;
            hash2(data + offsets[i], (size_t)(offsets[i + 1] - offsets[i]), &h1[g], &h2[g]);
            __builtin_prefetch(&s->users[h1[g] & s->mask], 1);
        }
        for (int g = 0; g < m; g++) {
            uint64_t j = h1[g] & s->mask;
            while (s->users[j].h1 | s->users[j].h2) j = (j + 1) & s->mask;
            s->users[j] = (user_slot){h1[g], h2[g], (uint32_t)s->rows, 0};
            s->ids[s->rows++] = ids[first + g];
        }
    }
    return 0;
}

static user_slot *resolve(const pass_state *s, uint64_t h1, uint64_t h2) {
    for (uint64_t j = h1 & s->mask; s->users[j].h1 | s->users[j].h2; j = (j + 1) & s->mask)
        if (s->users[j].h1 == h1 && s->users[j].h2 == h2) return &s->users[j];
    return NULL;
}

static int grow(part *q) {
    uint64_t cap = (q->mask + 1) * 2, mask = cap - 1;
    pair_slot *pairs = table_alloc(cap * sizeof *pairs);
    if (!pairs) return 0;
    for (uint64_t i = 0; i <= q->mask; i++) {
        if (!q->pairs[i].key) continue;
        uint64_t j = mix(q->pairs[i].key) & mask;
        while (pairs[j].key) j = (j + 1) & mask;
        pairs[j] = q->pairs[i];
    }
    table_free(q->pairs, (q->mask + 1) * sizeof *q->pairs);
    q->pairs = pairs;
    q->mask = mask;
    return 1;
}

/* The words of a group of lines, waiting for their slots to arrive in the cache. */
typedef struct {
    int n;
    pair_slot word[MAX_WORDS];
} words;

/* The group's words applied: the later word (or, within a line, the removal) wins.
 * The table grows first if they could fill it past two thirds. */
static void flush(part *q, words *w) {
    if ((q->count + (uint64_t)w->n) * 3 > q->mask * 2 && !grow(q)) {
        q->failed = 1;
        w->n = 0;
        return;
    }
    for (int i = 0; i < w->n; i++) {
        pair_slot *word = &w->word[i];
        uint64_t j = mix(word->key) & q->mask;
        while (q->pairs[j].key && q->pairs[j].key != word->key) j = (j + 1) & q->mask;
        if (!q->pairs[j].key) {
            q->pairs[j] = *word;
            q->count++;
        } else if (word->val > q->pairs[j].val) {
            q->pairs[j].val = word->val;
        }
    }
    w->n = 0;
}

/* One item of a resolved line: its trait (the first run of digits, as an INTEGER)
 * and whether it is a removal; counted as the plan floor counts it, its word kept. */
static void item(part *q, words *w, uint32_t row, uint64_t offset, const char *p, size_t n,
                 int64_t *added) {
    int removal = memmem(p, n, "unsid", 5) || memmem(p, n, ":-1", 3);
    size_t i = 0;
    while (i < n && (p[i] < '0' || p[i] > '9')) i++;
    int64_t trait = -1;
    if (i < n) {
        trait = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
            trait = trait * 10 + (p[i] - '0');
            if (trait > INT32_MAX) {
                trait = -1;
                break;
            }
        }
    }
    if (removal) q->removed++;
    else (*added)++;
    if (trait < 0) {
        q->other++;
        return;
    }
    if (w->n == MAX_WORDS) flush(q, w); /* a line of many items */
    uint64_t key = ((uint64_t)(row + 1) << 32) | (uint32_t)trait;
    __builtin_prefetch(&q->pairs[mix(key) & q->mask], 1);
    w->word[w->n++] = (pair_slot){key, offset * 2 + (uint64_t)removal};
}

/* A line as the first stage leaves it: where it is, its ID's hashes, and whether it
 * is one of this part's to resolve. */
typedef struct {
    const char *traits;
    size_t traits_len, quotes;
    uint64_t offset, h1, h2;
} pending;

/* Checks one line, counts it (part 0) and, when its ID is of part ``t``, hashes the
 * ID and fetches its slot ahead; returns whether the line waits for the second stage. */
static int check(pass_state *s, int t, uint64_t offset, const char *p, size_t n, pending *out) {
    const char *tab = memchr(p, '\t', n);
    size_t id_len = tab ? (size_t)(tab - p) : 0;
    const char *traits = tab ? tab + 1 : p + n;
    size_t traits_len = (size_t)(p + n - traits);
    size_t quotes = 0;
    for (size_t i = 0; i < traits_len; i++) quotes += traits[i] == '"';
    int error = -1;
    if (n > 100000) error = E_LONG;
    else if (!tab) error = E_NO_TAB;
    else if (id_len == 0) error = E_NO_ID;
    else {
        for (size_t i = 0; i < id_len && error < 0; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c < 0x20 || c == 0x7f) error = E_CONTROL;
        }
        if (error < 0 && memchr(p, ':', id_len)) error = E_COLON;
        if (error < 0 && quotes % 2) error = E_QUOTE;
    }
    if (t == 0) {
        s->lines++;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] >= 0x80) {
                s->odd++;
                break;
            }
        if (error >= 0) s->errors[error]++;
    }
    if (error >= 0) return 0;
    uint64_t h1, h2;
    hash2(p, id_len, &h1, &h2);
    if ((int)((h2 >> 56) % (uint64_t)s->parts) != t) return 0;
    __builtin_prefetch(&s->users[h1 & s->mask], 1);
    *out = (pending){traits, traits_len, quotes, offset, h1, h2};
    return 1;
}

/* The second stage of a line of part ``t``: its ID resolved, its items read. */
static void resolve_line(pass_state *s, part *q, words *w, const pending *l) {
    user_slot *user = resolve(s, l->h1, l->h2);
    if (!user) {
        q->unknown++;
        return;
    }
    user->lines++;
    int64_t added = 0;
    const char *end = l->traits + l->traits_len;
    if (l->quotes) { /* items: runs of characters other than commas, quoted runs whole */
        const char *r = l->traits;
        while (r < end) {
            const char *start = r;
            while (r < end && *r != ',') {
                if (*r == '"') { /* to the closing quote (an even number of them: checked) */
                    const char *close = memchr(r + 1, '"', (size_t)(end - r - 1));
                    r = close ? close + 1 : end;
                } else {
                    r++;
                }
            }
            if (r > start) item(q, w, user->row, l->offset, start, (size_t)(r - start), &added);
            r++;
        }
    } else { /* items: split at every comma, empty ones included */
        const char *r = l->traits;
        for (;;) {
            const char *comma = memchr(r, ',', (size_t)(end - r));
            const char *stop = comma ? comma : end;
            item(q, w, user->row, l->offset, r, (size_t)(stop - r), &added);
            if (!comma) break;
            r = comma + 1;
        }
    }
    q->added += added;
    if (added) user->lines |= ADDED;
}

/* A block of whole lines starting at ``offset`` in the file, as part ``t`` sees it;
 * the parts of one block may run at the same time, each in its own thread. Lines go
 * a group at a time through the stages, so that each stage's cache misses overlap. */
int pass_feed(pass_state *s, int t, uint64_t offset, const char *p, int64_t n) {
    const char *begin = p, *end = p + n;
    part *q = &s->part[t];
    pending group[GROUP];
    words w = {0};
    while (p < end) {
        int m = 0;
        while (p < end && m < GROUP) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            const char *stop = eol ? eol : end;
            m += check(s, t, offset + (uint64_t)(p - begin), p, (size_t)(stop - p), &group[m]);
            p = stop + 1;
        }
        for (int i = 0; i < m; i++) {
            resolve_line(s, q, &w, &group[i]);
        }
        flush(q, &w);
    }
    return q->failed ? -1 : 0;
}

/* The receipt's sums: lines, the errors by kind, lines beyond ASCII, unknown IDs,
 * items added, removed and other, users who added, users with lines (14 values). */
void pass_counts(const pass_state *s, int64_t *out) {
    out[0] = s->lines;
    for (int e = 0; e < E_KINDS; e++) out[1 + e] = s->errors[e];
    out[7] = s->odd;
    out[8] = out[9] = out[10] = out[11] = 0;
    for (int t = 0; t < s->parts; t++) {
        out[8] += s->part[t].unknown;
        out[9] += s->part[t].added;
        out[10] += s->part[t].removed;
        out[11] += s->part[t].other;
    }
    int64_t users = 0, with_lines = 0;
    for (uint64_t j = 0; j <= s->mask; j++) {
        users += (s->users[j].lines & ADDED) != 0;
        with_lines += (s->users[j].lines & ~ADDED) != 0;
    }
    out[12] = users;
    out[13] = with_lines;
}

/* How many (user, trait) pairs the last words hold. */
int64_t pass_held(const pass_state *s) {
    int64_t held = 0;
    for (int t = 0; t < s->parts; t++)
        for (uint64_t i = 0; i <= s->part[t].mask; i++)
            held += s->part[t].pairs[i].key && !(s->part[t].pairs[i].val & 1);
    return held;
}

/* The held pairs as the users' ids and the traits. */
void pass_realisations(const pass_state *s, int64_t *users, int32_t *traits) {
    int64_t j = 0;
    for (int t = 0; t < s->parts; t++) {
        const part *q = &s->part[t];
        for (uint64_t i = 0; i <= q->mask; i++) {
            const pair_slot *pair = &q->pairs[i];
            if (!pair->key || (pair->val & 1)) continue;
            users[j] = s->ids[(pair->key >> 32) - 1];
            traits[j] = (int32_t)(pair->key & 0xffffffffu);
            j++;
        }
    }
}

void pass_close(pass_state *s) {
    if (!s) return;
    table_free(s->users, (s->mask + 1) * sizeof *s->users);
    table_free(s->ids, ((size_t)s->capacity_rows + 1) * sizeof *s->ids);
    for (int t = 0; t < s->parts; t++) {
        part *q = &s->part[t];
        table_free(q->pairs, (q->mask + 1) * sizeof *q->pairs);
    }
    free(s);
}
