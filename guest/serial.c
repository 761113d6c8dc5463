/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest's serial output: the 16550 UART at 0x3f8, polled, 115200 8N1. */
#include "guest.h"

#define COM1        0x3f8
#define UART_THR    0       /* transmit holding (DLAB=0) */
#define UART_DLL    0       /* divisor latch low (DLAB=1) */
#define UART_IER    1
#define UART_DLM    1
#define UART_FCR    2
#define UART_LCR    3
#define UART_MCR    4
#define UART_LSR    5
#define LSR_THRE    0x20
#define LCR_DLAB    0x80
#define LCR_8N1     0x03

/* Give up on a transmitter that never drains rather than hang the guest. */
#define THRE_SPINS  1000000

void serial_init(void)
{
    outb(COM1 + UART_IER, 0x00);
    outb(COM1 + UART_LCR, LCR_DLAB);
    outb(COM1 + UART_DLL, 1);           /* 115200 baud */
    outb(COM1 + UART_DLM, 0);
    outb(COM1 + UART_LCR, LCR_8N1);
    outb(COM1 + UART_FCR, 0x07);        /* enable and clear the FIFOs */
    outb(COM1 + UART_MCR, 0x03);        /* DTR, RTS */
}

static void serial_putc(char c)
{
    for (int i = 0; i < THRE_SPINS; i++) {
        if (inb(COM1 + UART_LSR) & LSR_THRE) {
            break;
        }
        cpu_relax();
    }
    outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_write(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        serial_putc(buf[i]);
    }
}
