/*
 * XeCrypt from PowerPC code: SHA-1 in two updates through a state on the stack, the
 * one-shot SHA-1, HMAC-SHA1, AES-128-CBC with a feed and RC4 with a 5-byte key. Exits
 * with the FNV-1a hash of every output; the test computes the same with the host's
 * libraries (RC4's answer differs by profile: canary keys it with 16 bytes).
 */
#include "xboxkrnl.h"

X360K_GUEST("crypto", "XeCrypt hashes and ciphers with their state in guest memory", "finished");

static char message[] = "The quick brown fox jumps over the lazy dog";
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
    XeCryptShaInit(sha_state);
    XeCryptShaUpdate(sha_state, message, 10);
    XeCryptShaUpdate(sha_state, message + 10, 33);
    XeCryptShaFinal(sha_state, digest, sizeof digest);
    XeCryptSha(message, 43, NULL, 0, NULL, 0, one_shot, sizeof one_shot);
    XeCryptHmacSha(key, 16, message, 43, NULL, 0, NULL, 0, mac, sizeof mac);
    for (ULONG i = 0; i < 16; i++) feed[i] = (UCHAR)i;
    for (ULONG i = 0; i < 32; i++) block[i] = (UCHAR)message[i];
    XeCryptAesKey(aes_state, key);
    XeCryptAesCbc(aes_state, block, 16, block, feed, 1);
    XeCryptAesCbc(aes_state, block + 16, 16, block + 16, feed, 1);
    XeCryptRc4(rc4_key, 5, stream, sizeof stream);
    ULONG h = 2166136261u;
    h = fnv(digest, sizeof digest, h);
    h = fnv(one_shot, sizeof one_shot, h);
    h = fnv(mac, sizeof mac, h);
    h = fnv(block, sizeof block, h);
    return fnv(stream, sizeof stream, h);
}
