/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test guest's entry: a Multiboot v1 header, then from 32-bit protected
 * mode (as a Multiboot loader leaves it) into long mode with the first
 * 4 GiB identity-mapped by 2 MiB pages (guest_main maps RAM above that),
 * and on to guest_main(magic, info).
 *
 * No x87/SSE set-up, and the C code is built -mgeneral-regs-only: a nested
 * hypervisor may have to emulate a guest instruction, and its emulator
 * knows few of the FPU/SSE ones (fninit and ldmxcsr stopped the guest with
 * an emulation failure under nested KVM).  The guest keeps no FPU state.
 *
 * 2 MiB pages rather than 1 GiB ones: QEMU's default CPU model (qemu64)
 * has no pdpe1gb.
 */
#include "guest.h"

#define MB_HEADER_MAGIC 0x1badb002
#define MB_FLAGS        0x00000003      /* page-aligned modules, memory info */

#define PTE_P           0x001
#define PTE_W           0x002
#define PTE_PS          0x080

#define CR0_PE          0x00000001
#define CR0_NE          0x00000020
#define CR0_PG          0x80000000
#define CR4_PAE         0x00000020
#define MSR_EFER        0xc0000080
#define EFER_LME        0x00000100

#define SEL_CODE64      0x08
#define SEL_DATA        0x10
#define SEL_CODE32      0x18

    .section .multiboot, "a"
    .balign 4
    .long MB_HEADER_MAGIC
    .long MB_FLAGS
    .long -(MB_HEADER_MAGIC + MB_FLAGS)

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    movl %eax, %ebp                 /* Multiboot magic */
    movl %ebx, %esi                 /* info block (physical) */

    lgdt gdt_ptr
    ljmp $SEL_CODE32, $1f
1:  movl $SEL_DATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl $boot_stack_top, %esp

    /* Zero .bss: loaders are asked to, but do not rely on it. */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    /* PML4[0] -> PDPT; PDPT[0..3] -> the first four page directories. */
    movl $boot_pdpt, %eax
    orl $(PTE_P | PTE_W), %eax
    movl %eax, boot_pml4
    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $12, %eax
    addl $boot_pd, %eax
    orl $(PTE_P | PTE_W), %eax
    movl %eax, boot_pdpt(, %ecx, 8)
    incl %ecx
    cmpl $4, %ecx
    jb 2b

    /* 2048 entries of 2 MiB: 0 .. 4 GiB, identity. */
    xorl %ecx, %ecx
3:  movl %ecx, %eax
    shll $21, %eax
    orl $(PTE_P | PTE_W | PTE_PS), %eax
    movl %eax, boot_pd(, %ecx, 8)
    movl $0, boot_pd + 4(, %ecx, 8)
    incl %ecx
    cmpl $2048, %ecx
    jb 3b

    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE | CR0_NE), %eax
    movl %eax, %cr0
    ljmp $SEL_CODE64, $long_entry

    .code64
long_entry:
    movl $SEL_DATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movq $boot_stack_top, %rsp
    movl %ebp, %edi                 /* zero-extends into %rdi */
    movl %esi, %esi
    call guest_main
4:  cli
    hlt
    jmp 4b

    .section .rodata
    .balign 8
gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff        /* 0x10: flat data */
    .quad 0x00cf9a000000ffff        /* 0x18: flat 32-bit code */
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .balign 4096
    .globl boot_pml4, boot_pdpt
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
    .balign 16
boot_stack:
    .skip GUEST_STACK_SIZE
boot_stack_top:

    /*
     * Page directories: not zeroed at boot (every entry is written before
     * its PDPT entry points at it), hence outside .bss.
     */
    .section .pgtables, "aw", @nobits
    .balign 4096
    .globl boot_pd
boot_pd:
    .skip 4096 * GUEST_MAX_GIB
