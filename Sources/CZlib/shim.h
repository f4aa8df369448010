// zlib, used for the CRC-32 that guards every entry of a checkpoint's zip container.
#include <zlib.h>
