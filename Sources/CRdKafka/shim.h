#ifndef EVENTO_CRDKAFKA_SHIM_H
#define EVENTO_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// rd_kafka_producev is variadic (and its arguments are macros): one typed call for Evento's messages.
/// The message is copied; on success librdkafka owns `headers`.
static inline rd_kafka_resp_err_t evento_kafka_produce(rd_kafka_t *rk, const char *topic, const void *key, size_t key_len,
                                                       const void *value, size_t value_len, rd_kafka_headers_t *headers,
                                                       void *opaque) {
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY((void *)key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

/// The per-message opaque of a delivery report.
static inline void *evento_kafka_message_opaque(const rd_kafka_message_t *m) { return m->_private; }
#endif
