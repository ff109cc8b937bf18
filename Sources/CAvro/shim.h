#ifndef EVENTO_CAVRO_SHIM_H
#define EVENTO_CAVRO_SHIM_H
#include <avro.h>

// The avro_value_* accessors are macros over the value's interface struct, which Swift cannot import:
// one typed function each, for the ones Evento uses.
static inline avro_type_t evento_avro_type(avro_value_t *v) { return avro_value_get_type(v); }
static inline int evento_avro_reset(avro_value_t *v) { return avro_value_reset(v); }

static inline int evento_avro_get_boolean(avro_value_t *v, int *out) { return avro_value_get_boolean(v, out); }
static inline int evento_avro_get_int(avro_value_t *v, int32_t *out) { return avro_value_get_int(v, out); }
static inline int evento_avro_get_long(avro_value_t *v, int64_t *out) { return avro_value_get_long(v, out); }
static inline int evento_avro_get_float(avro_value_t *v, float *out) { return avro_value_get_float(v, out); }
static inline int evento_avro_get_double(avro_value_t *v, double *out) { return avro_value_get_double(v, out); }
static inline int evento_avro_get_string(avro_value_t *v, const char **s, size_t *size) { return avro_value_get_string(v, s, size); }
static inline int evento_avro_get_bytes(avro_value_t *v, const void **buf, size_t *size) { return avro_value_get_bytes(v, buf, size); }
static inline int evento_avro_get_fixed(avro_value_t *v, const void **buf, size_t *size) { return avro_value_get_fixed(v, buf, size); }
static inline int evento_avro_get_enum(avro_value_t *v, int *out) { return avro_value_get_enum(v, out); }
static inline int evento_avro_get_size(avro_value_t *v, size_t *out) { return avro_value_get_size(v, out); }
static inline int evento_avro_get_by_index(avro_value_t *v, size_t i, avro_value_t *child, const char **name) {
    return avro_value_get_by_index(v, i, child, name);
}
static inline int evento_avro_get_by_name(avro_value_t *v, const char *name, avro_value_t *child) {
    return avro_value_get_by_name(v, name, child, NULL);
}
static inline int evento_avro_get_discriminant(avro_value_t *v, int *out) { return avro_value_get_discriminant(v, out); }
static inline int evento_avro_get_current_branch(avro_value_t *v, avro_value_t *branch) { return avro_value_get_current_branch(v, branch); }

static inline int evento_avro_set_null(avro_value_t *v) { return avro_value_set_null(v); }
static inline int evento_avro_set_boolean(avro_value_t *v, int b) { return avro_value_set_boolean(v, b); }
static inline int evento_avro_set_int(avro_value_t *v, int32_t i) { return avro_value_set_int(v, i); }
static inline int evento_avro_set_long(avro_value_t *v, int64_t l) { return avro_value_set_long(v, l); }
static inline int evento_avro_set_float(avro_value_t *v, float f) { return avro_value_set_float(v, f); }
static inline int evento_avro_set_double(avro_value_t *v, double d) { return avro_value_set_double(v, d); }
/// size counts the string's bytes plus its terminating NUL, as avro-c expects.
static inline int evento_avro_set_string_len(avro_value_t *v, const char *s, size_t size) { return avro_value_set_string_len(v, s, size); }
static inline int evento_avro_set_bytes(avro_value_t *v, void *buf, size_t size) { return avro_value_set_bytes(v, buf, size); }
static inline int evento_avro_set_fixed(avro_value_t *v, void *buf, size_t size) { return avro_value_set_fixed(v, buf, size); }
static inline int evento_avro_set_enum(avro_value_t *v, int e) { return avro_value_set_enum(v, e); }
static inline int evento_avro_append(avro_value_t *v, avro_value_t *child) { return avro_value_append(v, child, NULL); }
static inline int evento_avro_add(avro_value_t *v, const char *key, avro_value_t *child) { return avro_value_add(v, key, child, NULL, NULL); }
static inline int evento_avro_set_branch(avro_value_t *v, int discriminant, avro_value_t *branch) {
    return avro_value_set_branch(v, discriminant, branch);
}
static inline void evento_avro_iface_decref(avro_value_iface_t *iface) { avro_value_iface_decref(iface); }
#endif
