/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The layer link check's program (tests/layers/meson.build): it calls
 * nothing.  What is checked is that it links at all, with one layer and the
 * layers below it linked whole: every object of those libraries is in, so
 * a call from one of them into a layer above is an undefined symbol.
 */
int main(void)
{
    return 0;
}
