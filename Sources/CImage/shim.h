// libjpeg-turbo (Debian libjpeg62-turbo-dev) and libpng 1.6 (libpng-dev).
// Both report fatal errors with longjmp, which Swift cannot catch, so nothing in Swift
// calls their decode/encode entry points directly: the CImageShim target wraps them in C
// functions that return an error code and message.
#include <stdio.h>
#include <stddef.h>
#include <jpeglib.h>
#include <png.h>
