#include <limits.h>
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
   marks these EC_KEY calls and the projective coordinates deprecated, not removed, and no
   EVP call takes a nonce made before the digest is known; the wrappers keep the warnings out
   of every build. */
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
/* Sets inverses[i] to values[i]^-1 modulo the prime modulus (mont: its Montgomery context)
   for i in [0, count), every value in [1, modulus - 1], by Montgomery's trick: the running products values[0] * ... *
   values[i] (in prefix, count numbers the caller made), one inversion of the last by Fermat's
   little theorem in constant time (BN_mod_exp_mont_consttime), then each inverse peeled off
   with a few products. Every product is a Montgomery product at the modulus's full width,
   whose one step that depends on the value (dropping a leading zero word) happens about once
   in 2^64 products. Returns 1, or 0 when OpenSSL fails. */
static inline int authlog_batch_inverse(
    BIGNUM **inverses, BIGNUM *const *values, BIGNUM **prefix, int count, const BIGNUM *modulus, BN_MONT_CTX *mont,
    BN_CTX *ctx) {
    int ok = 0;
    BN_CTX_start(ctx);
    BIGNUM *t = BN_CTX_get(ctx), *inverse = BN_CTX_get(ctx), *exponent = BN_CTX_get(ctx);
    if (exponent == NULL || !BN_copy(exponent, modulus) || !BN_sub_word(exponent, 2)
        || !BN_to_montgomery(prefix[0], values[0], mont, ctx))
        goto end;
    for (int i = 1; i < count; i++) {
        if (!BN_to_montgomery(t, values[i], mont, ctx) || !BN_mod_mul_montgomery(prefix[i], prefix[i - 1], t, mont, ctx))
            goto end;
    }
    if (!BN_from_montgomery(t, prefix[count - 1], mont, ctx)
        || !BN_mod_exp_mont_consttime(inverse, t, exponent, modulus, ctx, mont)
        || !BN_to_montgomery(inverse, inverse, mont, ctx))
        goto end;
    /* inverse = (values[0] * ... * values[i])^-1, Montgomery form, from i = count - 1 down. */
    for (int i = count - 1; i > 0; i--) {
        if (!BN_mod_mul_montgomery(t, inverse, prefix[i - 1], mont, ctx)
            || !BN_from_montgomery(inverses[i], t, mont, ctx) || !BN_to_montgomery(t, values[i], mont, ctx)
            || !BN_mod_mul_montgomery(inverse, inverse, t, mont, ctx))
            goto end;
    }
    ok = BN_from_montgomery(inverses[0], inverse, mont, ctx);
end:
    BN_CTX_end(ctx);
    return ok;
}
/* count random nonces k for group's curve (a prime field's), each as k^-1 and r = x(kG) mod n,
   what ECDSA_sign_setup makes one at a time, in about half its work: where ECDSA_sign_setup
   inverts twice for each nonce (Z, to make kG affine, and k), the batch inverts each kind
   once for all (authlog_batch_inverse). k is drawn from OpenSSL's private generator as
   BN_priv_rand_range draws it for P-256's order (256 random bits, drawn again unless
   1 <= k < n), the whole batch's bits in one RAND_priv_bytes; kG is made by the
   EC_POINT_mul ECDSA_sign_setup calls; x(kG) is
   X / Z^2, from kG's Jacobian coordinates. The inversions and products are OpenSSL's generic
   Montgomery arithmetic, not the curve's own constant-time routines that ECDSA_sign_setup
   uses on x86-64; see authlog_batch_inverse for the one step that depends on a value. Fills
   kinv[0..count) and r[0..count) and returns 1, or returns 0 with every one NULL. k_out, for
   tests that check the nonces against a slow reference, receives each k; NULL elsewhere, and
   the k are wiped. */
static inline int authlog_p256_nonces(
    const EC_GROUP *group, int count, BIGNUM **kinv, BIGNUM **r, BIGNUM **k_out) {
    if (count < 1) return 0;
    for (int i = 0; i < count; i++) {
        kinv[i] = NULL;
        r[i] = NULL;
        if (k_out != NULL) k_out[i] = NULL;
    }
    if (group == NULL) return 0;
    const BIGNUM *order = EC_GROUP_get0_order(group), *field = EC_GROUP_get0_field(group);
    size_t size = (size_t)count * sizeof(void *);
    int ok = 0;
    BN_CTX *ctx = BN_CTX_secure_new();
    EC_POINT *point = EC_POINT_new(group);
    BIGNUM **k = OPENSSL_zalloc(size);
    BIGNUM **x = OPENSSL_zalloc(size); /* X of kG, then x(kG) */
    BIGNUM **z = OPENSSL_zalloc(size); /* Z of kG, then Z^-1 */
    BIGNUM **prefix = OPENSSL_zalloc(size);
    BIGNUM *zinverse = BN_secure_new();
    int width = order != NULL ? BN_num_bytes(order) : 0;
    unsigned char *drawn = width > 0 ? OPENSSL_secure_malloc((size_t)count * (size_t)width) : NULL;
    BN_MONT_CTX *field_mont = BN_MONT_CTX_new(), *order_mont = BN_MONT_CTX_new();
    if (order == NULL || field == NULL || ctx == NULL || point == NULL || k == NULL || x == NULL || z == NULL
        || prefix == NULL || zinverse == NULL || drawn == NULL || field_mont == NULL || order_mont == NULL
        || BN_num_bits(order) != 8 * width || count > INT_MAX / width || !BN_MONT_CTX_set(field_mont, field, ctx)
        || !BN_MONT_CTX_set(order_mont, order, ctx) || RAND_priv_bytes(drawn, count * width) != 1)
        goto end;
    for (int i = 0; i < count; i++) {
        k[i] = BN_secure_new();
        x[i] = BN_secure_new();
        z[i] = BN_secure_new();
        prefix[i] = BN_secure_new();
        kinv[i] = BN_secure_new();
        r[i] = BN_new();
        if (k[i] == NULL || x[i] == NULL || z[i] == NULL || prefix[i] == NULL || kinv[i] == NULL || r[i] == NULL)
            goto end;
        /* A draw out of range (about once in 2^32 for P-256) is made again, one at a time. */
        if (BN_bin2bn(drawn + (size_t)i * (size_t)width, width, k[i]) == NULL) goto end;
        while (BN_is_zero(k[i]) || BN_cmp(k[i], order) >= 0) {
            if (!BN_priv_rand_range(k[i], order)) goto end;
        }
        if (!EC_POINT_mul(group, point, k[i], NULL, NULL, ctx)
            || !EC_POINT_get_Jprojective_coordinates_GFp(group, point, x[i], NULL, z[i], ctx) || BN_is_zero(z[i]))
            goto end;
    }
    /* z[i] = Z^-1 (the values are read again while the inverses are written: a copy first). */
    for (int i = 0; i < count; i++) {
        if (!BN_copy(kinv[i], z[i])) goto end;
    }
    if (!authlog_batch_inverse(z, kinv, prefix, count, field, field_mont, ctx)) goto end;
    for (int i = 0; i < count; i++) {
        /* x = X * (Z^-1)^2: two Montgomery products, the second taking X as it is. */
        if (!BN_to_montgomery(zinverse, z[i], field_mont, ctx)
            || !BN_mod_mul_montgomery(zinverse, zinverse, zinverse, field_mont, ctx)
            || !BN_mod_mul_montgomery(x[i], x[i], zinverse, field_mont, ctx) || !BN_nnmod(r[i], x[i], order, ctx)
            || BN_is_zero(r[i]))
            goto end;
    }
    if (!authlog_batch_inverse(kinv, k, prefix, count, order, order_mont, ctx)) goto end;
    ok = 1;
    if (k_out != NULL) {
        for (int i = 0; i < count; i++) {
            k_out[i] = k[i];
            k[i] = NULL;
        }
    }
end:
    for (int i = 0; i < count && k != NULL && x != NULL && z != NULL && prefix != NULL; i++) {
        BN_clear_free(k[i]);
        BN_clear_free(x[i]);
        BN_clear_free(z[i]);
        BN_clear_free(prefix[i]);
        if (!ok) {
            BN_clear_free(kinv[i]);
            BN_clear_free(r[i]);
            kinv[i] = NULL;
            r[i] = NULL;
        }
    }
    OPENSSL_free(k);
    OPENSSL_free(x);
    OPENSSL_free(z);
    OPENSSL_free(prefix);
    BN_clear_free(zinverse);
    if (drawn != NULL) OPENSSL_secure_clear_free(drawn, (size_t)count * (size_t)width);
    BN_MONT_CTX_free(field_mont);
    BN_MONT_CTX_free(order_mont);
    EC_POINT_clear_free(point);
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
