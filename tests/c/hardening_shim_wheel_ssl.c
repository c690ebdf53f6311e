/* A library linked against a privately named libssl, as a manylinux wheel ships one
   (libssl-<hash>.so.3): it makes a context and a connection object, and counts the
   certificates in the context's store (the mocket CA, when trust injection reached it). */
void *TLS_client_method(void);
void *SSL_CTX_new(const void *method);
void *SSL_new(void *ctx);
void *SSL_CTX_get_cert_store(const void *ctx);
void *X509_STORE_get0_objects(const void *store);
int OPENSSL_sk_num(const void *stack);

int certificates_in_a_new_context(void) {
    void *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return -1;
    if (!SSL_new(ctx)) return -2;
    return OPENSSL_sk_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx)));
}
