/*  fsutil.h - small file-system helpers shared inside libdaisy */
#ifndef DAISY_FSUTIL_H
#define DAISY_FSUTIL_H

//  Create a directory and its missing parents (like mkdir -p); 0, or -1
//  with errno set.
int fsutil_mkdirs(const char *path);

//  Remove a file or a directory with everything in it (like rm -rf); 0
//  (also when nothing is there), or -1 with errno set.
int fsutil_remove_tree(const char *path);

//  Open a regular file, with open(2)'s flags: a FIFO or a device put in
//  its place (a damaged or hostile directory) would block the open or
//  the reads for ever. The descriptor, -1 with errno set, or
//  FSUTIL_NOT_REGULAR when something else is there.
#define FSUTIL_NOT_REGULAR (-2)
int fsutil_open_regular(const char *path, int flags);

#endif
