#pragma once
// A thin, stable C surface over OpenSSL for the server's TLS (1.2 and 1.3, ALPN h2 and
// http/1.1). OpenSSL's API is largely macros and callbacks; Swift sees only these.
#include <stddef.h>

typedef struct ctls_context ctls_context;
typedef struct ctls_connection ctls_connection;

enum {
    CTLS_OK = 0,
    CTLS_WANT_READ = -2,
    CTLS_WANT_WRITE = -3,
    CTLS_CLOSED = -4,
    CTLS_ERROR = -1,
};

/// Loads a PEM certificate chain and private key. On failure returns NULL and writes a
/// message into `error` (at most `error_len` bytes, NUL-terminated).
ctls_context *ctls_context_new(const char *cert_path, const char *key_path, char *error, size_t error_len);
void ctls_context_free(ctls_context *context);

/// SHA-256 of `length` bytes into `digest` (32 bytes): checkpoints' pinned digests.
void ctls_sha256(const void *data, size_t length, unsigned char *digest);

/// Mutual TLS: every client must present a certificate that verifies against the PEM CA
/// bundle at `ca_path` (OpenSSL's chain verification), or the handshake fails. Returns
/// CTLS_OK, or CTLS_ERROR with a message in `error`.
int ctls_context_require_client_certificates(ctls_context *context, const char *ca_path, char *error, size_t error_len);

/// Wraps an accepted, non-blocking socket in a server-side TLS connection.
ctls_connection *ctls_connection_new(ctls_context *context, int fd);
void ctls_connection_free(ctls_connection *connection);

/// Drives the handshake: CTLS_OK when done, CTLS_WANT_READ/WRITE to retry when the
/// socket is ready, CTLS_ERROR (message in `error`) otherwise.
int ctls_handshake(ctls_connection *connection, char *error, size_t error_len);

/// > 0 bytes read; CTLS_WANT_READ/WRITE; CTLS_CLOSED on a clean close_notify or EOF; CTLS_ERROR.
long ctls_read(ctls_connection *connection, void *buffer, size_t length);
/// > 0 bytes written; CTLS_WANT_READ/WRITE; CTLS_ERROR.
long ctls_write(ctls_connection *connection, const void *buffer, size_t length);
/// Sends close_notify (best effort, non-blocking).
void ctls_shutdown(ctls_connection *connection);

/// The ALPN protocol the handshake selected: 2 for "h2", 1 for "http/1.1", 0 for none.
int ctls_alpn(ctls_connection *connection);
/// Protocol version of the session, e.g. "TLSv1.3".
const char *ctls_version(ctls_connection *connection);
