#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

/* ECDSA with a nonce made ahead of time (Sources/Signatures/P256Nonces.swift). OpenSSL 3
   marks these EC_KEY calls deprecated, not removed, and no EVP call takes a nonce made
   before the digest is known; the wrappers keep the warnings out of every build. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* The EC_KEY inside an EVP_PKEY, or NULL for a key of another kind; free with
   authlog_ec_key_free. */
static inline EC_KEY *authlog_ec_key(EVP_PKEY *key) { return EVP_PKEY_get1_EC_KEY(key); }
static inline EC_KEY *authlog_p256_generated_key(void) {
    EC_KEY *key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    if (key != NULL && EC_KEY_generate_key(key) != 1) { EC_KEY_free(key); return NULL; }
    return key;
}
static inline void authlog_ec_key_free(EC_KEY *key) { EC_KEY_free(key); }
/* A random nonce k for the key's curve, as k^-1 and r = x(kG) mod n. */
static inline int authlog_ecdsa_sign_setup(EC_KEY *key, BIGNUM **kinv, BIGNUM **r) {
    return ECDSA_sign_setup(key, NULL, kinv, r);
}
/* The signature of a digest with a nonce from authlog_ecdsa_sign_setup; NULL when OpenSSL
   needs another nonce (s came out 0) or fails. */
static inline ECDSA_SIG *authlog_ecdsa_sign_with_nonce(
    const unsigned char *digest, int length, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *key) {
    return ECDSA_do_sign_ex(digest, length, kinv, r, key);
}
#pragma GCC diagnostic pop
