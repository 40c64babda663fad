/*  fsutil.h - small file-system helpers shared inside libdaisy */
#ifndef DAISY_FSUTIL_H
#define DAISY_FSUTIL_H

//  Create a directory and its missing parents (like mkdir -p); 0, or -1
//  with errno set.
int fsutil_mkdirs(const char *path);

//  Remove a file or a directory with everything in it (like rm -rf); 0
//  (also when nothing is there), or -1 with errno set.
int fsutil_remove_tree(const char *path);

#endif
