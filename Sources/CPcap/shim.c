// SwiftPM builds a C target only when it has a source file. CPcap adds
// nothing that needs compiling; this unit checks that the header compiles
// on its own.
#include "CPcap.h"
