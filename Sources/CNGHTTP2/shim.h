// libnghttp2 (Debian: libnghttp2-dev), the HTTP/2 framing layer under our own event loop.
#include <nghttp2/nghttp2.h>
