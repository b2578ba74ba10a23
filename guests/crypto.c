/*
 * XeCrypt from PowerPC code: SHA-1 in two updates through a state on the stack, the
 * one-shot SHA-1, HMAC-SHA1, AES-128-CBC with a feed and RC4 with a 5-byte key. Exits
 * with the FNV-1a hash of every output; the test computes the same with the host's
 * libraries (RC4's answer differs by profile: canary keys it with 16 bytes).
 */
#include "xboxkrnl.h"

X360K_GUEST("crypto", "XeCrypt hashes and ciphers with their state in guest memory", "finished");

/*
 * The imports, declared here under guest-local names (a stub only carries the ordinal):
 * regenerating xboxkrnl.h would put every new export's stub into every guest and so
 * change all the committed binaries; with local names the two never clash.
 */
X360K_IMPORT(399, xc_ShaInit)
void xc_ShaInit(void *state);
X360K_IMPORT(400, xc_ShaUpdate)
void xc_ShaUpdate(void *state, const void *input, ULONG size);
X360K_IMPORT(401, xc_ShaFinal)
void xc_ShaFinal(void *state, void *output, ULONG size);
X360K_IMPORT(402, xc_Sha)
void xc_Sha(const void *in1, ULONG size1, const void *in2, ULONG size2, const void *in3,
            ULONG size3, void *output, ULONG output_size);
X360K_IMPORT_WIDE(386, xc_HmacSha, 2)
void xc_HmacSha(const void *key, ULONG key_size, const void *in1, ULONG size1, const void *in2,
                ULONG size2, const void *in3, ULONG size3, void *output, ULONG output_size);
X360K_IMPORT(345, xc_AesKey)
void xc_AesKey(void *state, const void *key);
X360K_IMPORT(347, xc_AesCbc)
void xc_AesCbc(void *state, const void *input, ULONG size, void *output, void *feed,
               BOOLEAN encrypt);
X360K_IMPORT(397, xc_Rc4)
void xc_Rc4(const void *key, ULONG key_size, void *data, ULONG size);

static const char message[] = "The quick brown fox jumps over the lazy dog";
static UCHAR key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                        0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static UCHAR rc4_key[16] = {1, 2, 3, 4, 5, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8};
static UCHAR digest[20], one_shot[20], mac[20], block[32], stream[16];

static ULONG fnv(const UCHAR *p, ULONG n, ULONG h)
{
    for (ULONG i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

ULONG _start(void)
{
    UCHAR sha_state[0x58];
    UCHAR aes_state[0x160];
    UCHAR feed[16];
    xc_ShaInit(sha_state);
    xc_ShaUpdate(sha_state, message, 10);
    xc_ShaUpdate(sha_state, message + 10, 33);
    xc_ShaFinal(sha_state, digest, sizeof digest);
    xc_Sha(message, 43, NULL, 0, NULL, 0, one_shot, sizeof one_shot);
    xc_HmacSha(key, 16, message, 43, NULL, 0, NULL, 0, mac, sizeof mac);
    for (ULONG i = 0; i < 16; i++) feed[i] = (UCHAR)i;
    for (ULONG i = 0; i < 32; i++) block[i] = (UCHAR)message[i];
    xc_AesKey(aes_state, key);
    xc_AesCbc(aes_state, block, 16, block, feed, 1);
    xc_AesCbc(aes_state, block + 16, 16, block + 16, feed, 1);
    xc_Rc4(rc4_key, 5, stream, sizeof stream);
    ULONG h = 2166136261u;
    h = fnv(digest, sizeof digest, h);
    h = fnv(one_shot, sizeof one_shot, h);
    h = fnv(mac, sizeof mac, h);
    h = fnv(block, sizeof block, h);
    return fnv(stream, sizeof stream, h);
}
