/* CStarve carries only starve.h; this file makes the target a C target, and compiling it
 * checks the layouts (the header's _Static_asserts) with the host compiler too. */
#include "starve.h"
