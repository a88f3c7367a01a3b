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
   marks these EC_KEY calls, EC_POINTs_make_affine and the projective coordinates deprecated,
   not removed, and no EVP call takes a nonce made before the digest is known; the wrappers
   keep the warnings out of every build. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* The EC_KEY inside an EVP_PKEY, or NULL for a key of another kind; free with
   authlog_ec_key_free. */
static inline EC_KEY *authlog_ec_key(EVP_PKEY *key) { return EVP_PKEY_get1_EC_KEY(key); }
static inline void authlog_ec_key_free(EC_KEY *key) { EC_KEY_free(key); }
/* The P-256 group, for authlog_p256_nonces; free with EC_GROUP_free. */
static inline EC_GROUP *authlog_p256_group(void) {
    return EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
}
/* count random nonces k for group's curve, each as k^-1 and r = x(kG) mod n, what
   ECDSA_sign_setup makes one at a time, in about half its work: the points kG are made
   affine together and the k inverted together (Montgomery's trick: one inversion and three
   multiplications a nonce), where ECDSA_sign_setup inverts twice for each. The secrets stay in
   the routines OpenSSL keeps for them: k drawn as ECDSA_sign_setup draws it, kG by the same
   EC_POINT_mul, products in Montgomery form (whose one step that depends on the value,
   dropping a leading zero word, happens once in 2^64 products), the one inversion by
   Fermat's little theorem (BN_mod_exp_mont_consttime), as OpenSSL inverts k where the curve
   has no routine of its own. Fills kinv[0..count) and r[0..count) and returns 1, or returns 0 with every one NULL.
   k_out, for tests that check the nonces against a slow reference, receives each k; NULL
   elsewhere, and the k are wiped. */
static inline int authlog_p256_nonces(
    const EC_GROUP *group, int count, BIGNUM **kinv, BIGNUM **r, BIGNUM **k_out) {
    if (group == NULL || count < 1) return 0;
    const BIGNUM *order = EC_GROUP_get0_order(group);
    size_t size = (size_t)count * sizeof(void *);
    int ok = 0;
    BN_CTX *ctx = BN_CTX_secure_new();
    BN_MONT_CTX *mont = BN_MONT_CTX_new();
    EC_POINT **points = OPENSSL_zalloc(size);
    BIGNUM **k = OPENSSL_zalloc(size);
    BIGNUM **prefix = OPENSSL_zalloc(size); /* k[0] * ... * k[i], Montgomery form */
    BIGNUM *x = BN_new(), *z = BN_new(), *exponent = BN_new();
    BIGNUM *t = BN_secure_new(), *inverse = BN_secure_new();
    for (int i = 0; i < count; i++) { kinv[i] = NULL; r[i] = NULL; }
    if (order == NULL || ctx == NULL || mont == NULL || points == NULL || k == NULL || prefix == NULL
        || x == NULL || z == NULL || exponent == NULL || t == NULL || inverse == NULL)
        goto end;
    if (!BN_MONT_CTX_set(mont, order, ctx) || !BN_copy(exponent, order) || !BN_sub_word(exponent, 2))
        goto end;
    for (int i = 0; i < count; i++) {
        points[i] = EC_POINT_new(group);
        k[i] = BN_secure_new();
        prefix[i] = BN_secure_new();
        kinv[i] = BN_secure_new();
        r[i] = BN_new();
        if (points[i] == NULL || k[i] == NULL || prefix[i] == NULL || kinv[i] == NULL || r[i] == NULL)
            goto end;
        do {
            if (!BN_priv_rand_range(k[i], order)) goto end;
        } while (BN_is_zero(k[i]));
        if (!EC_POINT_mul(group, points[i], k[i], NULL, NULL, ctx)) goto end;
    }
    if (!EC_POINTs_make_affine(group, (size_t)count, points, ctx)) goto end;
    for (int i = 0; i < count; i++) {
        /* Affine now: X is x(kG) and Z is 1 (checked: a point left projective fails the batch). */
        if (!EC_POINT_get_Jprojective_coordinates_GFp(group, points[i], x, NULL, z, ctx) || !BN_is_one(z))
            goto end;
        if (!BN_nnmod(r[i], x, order, ctx) || BN_is_zero(r[i])) goto end;
    }
    if (!BN_to_montgomery(prefix[0], k[0], mont, ctx)) goto end;
    for (int i = 1; i < count; i++) {
        if (!BN_to_montgomery(t, k[i], mont, ctx) || !BN_mod_mul_montgomery(prefix[i], prefix[i - 1], t, mont, ctx))
            goto end;
    }
    /* inverse = (k[0] * ... * k[count-1])^-1, then peeled one k at a time from the end. */
    if (!BN_from_montgomery(t, prefix[count - 1], mont, ctx)
        || !BN_mod_exp_mont_consttime(inverse, t, exponent, order, ctx, mont)
        || !BN_to_montgomery(inverse, inverse, mont, ctx))
        goto end;
    for (int i = count - 1; i > 0; i--) {
        if (!BN_mod_mul_montgomery(t, inverse, prefix[i - 1], mont, ctx) || !BN_from_montgomery(kinv[i], t, mont, ctx)
            || !BN_to_montgomery(t, k[i], mont, ctx) || !BN_mod_mul_montgomery(inverse, inverse, t, mont, ctx))
            goto end;
    }
    if (!BN_from_montgomery(kinv[0], inverse, mont, ctx)) goto end;
    ok = 1;
    if (k_out != NULL) {
        for (int i = 0; i < count; i++) { k_out[i] = k[i]; k[i] = NULL; }
    }
end:
    for (int i = 0; i < count && points != NULL && k != NULL && prefix != NULL; i++) {
        EC_POINT_clear_free(points[i]);
        BN_clear_free(k[i]);
        BN_clear_free(prefix[i]);
        if (!ok) {
            BN_clear_free(kinv[i]);
            BN_clear_free(r[i]);
            kinv[i] = NULL;
            r[i] = NULL;
        }
    }
    OPENSSL_free(points);
    OPENSSL_free(k);
    OPENSSL_free(prefix);
    BN_free(x);
    BN_free(z);
    BN_free(exponent);
    BN_clear_free(t);
    BN_clear_free(inverse);
    BN_MONT_CTX_free(mont);
    BN_CTX_free(ctx);
    return ok;
}
/* The signature of a digest with a nonce from authlog_p256_nonces; NULL when OpenSSL
   needs another nonce (s came out 0) or fails. */
static inline ECDSA_SIG *authlog_ecdsa_sign_with_nonce(
    const unsigned char *digest, int length, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *key) {
    return ECDSA_do_sign_ex(digest, length, kinv, r, key);
}
#pragma GCC diagnostic pop
