/*  tm_trace_blob.S - the trace shim (libtestmesh-trace.so), embedded in
    the binary: one binary is all a member needs (tm_trace.h).

    The Makefile builds the shim first and passes its path as
    TM_TRACE_SHIM_SO (a quoted string).
*/
#ifndef TM_TRACE_SHIM_SO
#error "TM_TRACE_SHIM_SO must name the built shim"
#endif
    .section .rodata.tm_trace_shim, "a"
    .balign 16
    .globl tm_trace_shim_start
    .type tm_trace_shim_start, @object
tm_trace_shim_start:
    .incbin TM_TRACE_SHIM_SO
    .globl tm_trace_shim_end
    .type tm_trace_shim_end, @object
tm_trace_shim_end:
    .byte 0
    .section .note.GNU-stack, "", @progbits
