// SwiftPM builds a C target only when it has a source file. Everything
// CLiburing adds is static inline in include/CLiburing.h; this unit checks
// that the header compiles on its own.
#include "CLiburing.h"
