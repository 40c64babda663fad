/*  daisy/export.h - marks the functions that libdaisy exports

    libdaisy is built with hidden symbol visibility, so that its internal
    helpers (src/, broker/, ...) stay inside the library and only the
    public API, all named daisy_*, is visible to programs. Every function
    declared in include/daisy/ carries DAISY_EXPORT, which makes it
    visible again. Compilers without GCC's visibility attribute get an
    empty macro (and export everything, as before).
*/
#ifndef DAISY_EXPORT_H
#define DAISY_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define DAISY_EXPORT __attribute__((visibility("default")))
#else
#define DAISY_EXPORT
#endif

#endif
