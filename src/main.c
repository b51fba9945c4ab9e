/* main.c - entry point of image-transfer. */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts("image-transfer " IT_VERSION);
    return 0;
}
