/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 16550A UART at 0x3f8 as far as a polling guest uses it: the transmitter
 * (always ready, bytes go straight to the backend), the line status
 * register, and the other registers stored so a guest can program them.
 * No receiver data and no interrupts.  Locking: one mutex around registers
 * and output, so lines written by several vCPUs never interleave mid-call.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "hw/char/serial.h"
#include "migration/register.h"
#include "util/error.h"

#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LCR_DLAB 0x80
#define UART_IIR_NO_INT 0x01

struct SerialState {
    Machine *machine;
    GMutex lock;
    int fd;                 /* -1: none */
    bool close_fd;
    /* registers, protected by lock */
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
};

static void serial_out(SerialState *s, const char *buf, size_t len)
{
    while (len && s->fd >= 0) {
        ssize_t n = write(s->fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;     /* a closed terminal must not stop the guest */
        }
        buf += n;
        len -= n;
    }
}

void serial_write_bytes(SerialState *s, const char *buf, size_t len)
{
    g_mutex_lock(&s->lock);
    serial_out(s, buf, len);
    g_mutex_unlock(&s->lock);
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned size)
{
    SerialState *s = opaque;
    uint64_t v = 0;

    g_mutex_lock(&s->lock);
    switch (off) {
    case 0: v = (s->lcr & UART_LCR_DLAB) ? s->dll : 0; break;
    case 1: v = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier; break;
    case 2: v = UART_IIR_NO_INT | (s->fcr & 1 ? 0xc0 : 0); break;
    case 3: v = s->lcr; break;
    case 4: v = s->mcr; break;
    case 5: v = UART_LSR_THRE | UART_LSR_TEMT; break;
    case 6: v = 0xb0; break;   /* MSR: CTS, DSR, DCD */
    case 7: v = s->scr; break;
    }
    g_mutex_unlock(&s->lock);
    return v;
}

static void serial_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    SerialState *s = opaque;
    char c = v;

    g_mutex_lock(&s->lock);
    switch (off) {
    case 0:
        if (s->lcr & UART_LCR_DLAB) {
            s->dll = v;
        } else {
            serial_out(s, &c, 1);
        }
        break;
    case 1:
        if (s->lcr & UART_LCR_DLAB) {
            s->dlm = v;
        } else {
            s->ier = v & 0x0f;
        }
        break;
    case 2: s->fcr = v; break;
    case 3: s->lcr = v; break;
    case 4: s->mcr = v & 0x1f; break;
    case 7: s->scr = v; break;
    }
    g_mutex_unlock(&s->lock);
}

static const IoOps serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

/* The registers travel with a migration; the backend stays local. */
static const VMStateDescription vmstate_serial = {
    .name = "serial",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(SerialState),
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(ier, SerialState),
        VMSTATE_UINT8(lcr, SerialState),
        VMSTATE_UINT8(mcr, SerialState),
        VMSTATE_UINT8(scr, SerialState),
        VMSTATE_UINT8(dll, SerialState),
        VMSTATE_UINT8(dlm, SerialState),
        VMSTATE_UINT8(fcr, SerialState),
        VMSTATE_END_OF_LIST(),
    },
};

SerialState *serial_new(Machine *m, const char *spec, GError **errp)
{
    SerialState *s;
    int fd = -1;
    bool close_fd = false;

    if (!strcmp(spec, "stdio")) {
        fd = STDOUT_FILENO;
    } else if (g_str_has_prefix(spec, "file:") && spec[5]) {
        fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            kvmig_error_errno(errp, errno, "-serial: cannot open '%s'", spec + 5);
            return NULL;
        }
        close_fd = true;
    } else if (strcmp(spec, "none") != 0) {
        kvmig_error(errp, "-serial '%s': expected stdio, file:PATH or none", spec);
        return NULL;
    }
    s = g_new0(SerialState, 1);
    s->machine = m;
    s->fd = fd;
    s->close_fd = close_fd;
    g_mutex_init(&s->lock);
    if (m) {
        machine_register_pio(m, SERIAL_COM1_BASE, 8, &serial_ops, s);
    }
    if (m && m->migration && !vmstate_register(m, "serial", 0, &vmstate_serial, s, errp)) {
        serial_free(s);
        return NULL;
    }
    return s;
}

void serial_free(SerialState *s)
{
    if (!s) {
        return;
    }
    if (s->close_fd) {
        close(s->fd);
    }
    g_mutex_clear(&s->lock);
    g_free(s);
}
