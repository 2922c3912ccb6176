#pragma once
// Debian: libcairo2-dev (pkg-config "cairo"). The PDF and SVG backends live in libcairo itself.
#include <cairo.h>
#include <cairo-pdf.h>
#include <cairo-svg.h>
