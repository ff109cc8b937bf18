/// The OpenAPI 3.1 description of the REST API, served at `/openapi.json`.
///
/// Written by hand next to the routes it describes; `OpenAPITests` checks it with openapi-spec-validator
/// and that every route the server registers is in it.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Evento",
    "version": "0.1.0",
    "description": "Event-sourcing orchestrator: events, commands, user functions, traces. Errors are RFC 9457 problem+json (Confluent's error format on the schema registry routes). Request bodies must be declared application/json (or application/*+json). With tokens configured (EVENTO_TOKENS, EVENTO_ADMIN_TOKEN, --tokens-file, HS256 JWTs), every route but /healthz, /metrics, /openapi.json and /ui needs a bearer token of a large enough scope (read, write, admin: docs/security.md); a server without tokens binds loopback only and needs none. Routes and methods not listed here answer 404 and 405 (with Allow). The Host header must name the server and an Origin header, when present, must be the server itself or one of --allowed-origins (which get CORS answers). Listings end early at --max-response-bytes: docs/limits.md."
  },
  "security": [{"adminToken": []}],
  "paths": {
    "/events": {
      "post": {
        "summary": "Publish one event, or a batch that commits atomically",
        "operationId": "publishEvents", "security": [{"adminToken": []}],
        "parameters": [{"$ref": "#/components/parameters/traceparent"}],
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/NewEvent"},
            {"type": "object", "required": ["events"], "additionalProperties": false,
             "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 10000, "items": {"$ref": "#/components/schemas/NewEvent"}}}}
          ]}}}
        },
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
          "201": {
            "description": "Stored (or, for ids already stored, the stored events: see the Evento-Replayed header)",
            "headers": {"Evento-Replayed": {"description": "How many returned events were already stored", "schema": {"type": "integer"}}},
            "content": {"application/json": {"schema": {"oneOf": [
              {"$ref": "#/components/schemas/Event"},
              {"type": "object", "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}}
            ]}}}
          },
          "400": {"$ref": "#/components/responses/Problem"},
          "409": {"$ref": "#/components/responses/Problem"},
          "413": {"$ref": "#/components/responses/Problem"},
          "422": {"$ref": "#/components/responses/Problem"}
        }
      },
      "get": {
        "summary": "The global feed: events after a position, in position order",
        "operationId": "listEvents",
        "parameters": [
          {"name": "afterPosition", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}},
          {"name": "waitMs", "in": "query", "description": "Long poll: wait up to this long for new events when there are none", "schema": {"type": "integer", "minimum": 0, "maximum": 60000, "default": 0}}
        ],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "Events", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "lastPosition": {"type": "integer", "description": "Position of the last event returned (afterPosition when none): the next afterPosition"},
            "truncatedByBytes": {"type": "boolean", "description": "The page ended at the response byte limit before limit events: continue from lastPosition"}
          }}}}},
          "400": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/events/{id}": {
      "get": {
        "summary": "One event",
        "operationId": "getEvent",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "The event", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/entities/{entity}/events": {
      "get": {
        "summary": "One entity's events in sequence order",
        "operationId": "getEntityEvents",
        "parameters": [
          {"$ref": "#/components/parameters/entity"},
          {"name": "fromSequence", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}}
        ],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "Events", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "entity": {"type": "string"},
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "nextSequence": {"type": "integer", "description": "The fromSequence of the next page"},
            "truncatedByBytes": {"type": "boolean", "description": "The page ended at the response byte limit before limit events"}
          }}}}},
          "400": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/trace/{id}": {
      "get": {
        "summary": "The cause chain of an event or command back to its root, and the tree of everything it caused",
        "operationId": "trace",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "The trace", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Trace"}}}},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/events/{id}/avro": {
      "get": {
        "summary": "The event's payload in the Confluent wire format (0x00, 4-byte schema id, Avro binary)",
        "operationId": "getEventAvro",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "Wire format bytes; the Evento-Schema-Id header names the schema", "content": {"application/vnd.confluent.avro": {}}},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/schemas": {
      "get": {"summary": "Aggregates with a schema, and their versions", "operationId": "listAggregateSchemas",
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"description": "Aggregates", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/schemas/{aggregate}": {
      "get": {
        "summary": "An aggregate's schema file, version and schema ids", "operationId": "getAggregateSchema",
        "parameters": [{"$ref": "#/components/parameters/aggregate"}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"description": "The schema", "content": {"application/json": {"schema": {"type": "object"}}}}, "404": {"$ref": "#/components/responses/Problem"}}
      },
      "put": {
        "summary": "Register a new version of an aggregate's schema file (compatibility-checked)", "operationId": "putAggregateSchema", "security": [{"adminToken": []}],
        "parameters": [{"$ref": "#/components/parameters/aggregate"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}},
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "413": {"$ref": "#/components/responses/Problem"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
          "201": {"description": "Registered", "content": {"application/json": {"schema": {"type": "object"}}}},
          "200": {"description": "Unchanged", "content": {"application/json": {"schema": {"type": "object"}}}},
          "409": {"$ref": "#/components/responses/Problem"},
          "422": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/schemas/ids/{id}": {
      "get": {"summary": "Confluent: a schema by id", "operationId": "confluentSchemaById", "tags": ["schema registry"],
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{\"schema\": \"…\"}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}, "404": {"description": "error_code 40403"}}}
    },
    "/subjects": {
      "get": {"summary": "Confluent: subjects", "operationId": "confluentSubjects", "tags": ["schema registry"],
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "Subject names", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "array", "items": {"type": "string"}}}}}}}
    },
    "/subjects/{subject}": {
      "post": {"summary": "Confluent: look a schema up under a subject", "operationId": "confluentLookup", "security": [{"adminToken": []}], "tags": ["schema registry"],
        "parameters": [{"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"$ref": "#/components/schemas/ConfluentSchemaRequest"}}}},
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "401": {"$ref": "#/components/responses/ConfluentError"}, "413": {"$ref": "#/components/responses/ConfluentError"}, "408": {"$ref": "#/components/responses/ConfluentError"}, "415": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "Found", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}, "404": {"description": "error_code 40401 or 40403"}}}
    },
    "/subjects/{subject}/versions": {
      "get": {"summary": "Confluent: versions of a subject", "operationId": "confluentVersions", "tags": ["schema registry"],
        "parameters": [{"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "Version numbers", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "array", "items": {"type": "integer"}}}}}, "404": {"description": "error_code 40401"}}},
      "post": {"summary": "Confluent: register a schema", "operationId": "confluentRegister", "security": [{"adminToken": []}], "tags": ["schema registry"],
        "parameters": [{"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"$ref": "#/components/schemas/ConfluentSchemaRequest"}}}},
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "401": {"$ref": "#/components/responses/ConfluentError"}, "413": {"$ref": "#/components/responses/ConfluentError"}, "408": {"$ref": "#/components/responses/ConfluentError"}, "415": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{\"id\": N}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}, "409": {"description": "incompatible"}, "422": {"description": "error_code 42201"}}}
    },
    "/subjects/{subject}/versions/{version}": {
      "get": {"summary": "Confluent: one version (a number or latest)", "operationId": "confluentVersion", "tags": ["schema registry"],
        "parameters": [{"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/subjectVersion"}],
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{subject, version, id, schema}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}, "404": {"description": "error_code 40401 or 40402"}, "422": {"$ref": "#/components/responses/ConfluentError"}}}
    },
    "/compatibility/subjects/{subject}/versions/{version}": {
      "post": {"summary": "Confluent: test a schema against a subject", "operationId": "confluentCompatibility", "security": [{"adminToken": []}], "tags": ["schema registry"],
        "parameters": [{"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/subjectVersion"}],
        "requestBody": {"required": true, "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"$ref": "#/components/schemas/ConfluentSchemaRequest"}}}},
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "401": {"$ref": "#/components/responses/ConfluentError"}, "413": {"$ref": "#/components/responses/ConfluentError"}, "408": {"$ref": "#/components/responses/ConfluentError"}, "415": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{is_compatible, messages}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}}}
    },
    "/config": {
      "get": {"summary": "Confluent: the global compatibility level", "operationId": "confluentGetConfig", "tags": ["schema registry"],
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{compatibilityLevel}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}}},
      "put": {"summary": "Confluent: set the global compatibility level", "operationId": "confluentPutConfig", "security": [{"adminToken": []}], "tags": ["schema registry"],
        "requestBody": {"required": true, "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"$ref": "#/components/schemas/ConfluentConfigRequest"}}}},
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "401": {"$ref": "#/components/responses/ConfluentError"}, "413": {"$ref": "#/components/responses/ConfluentError"}, "408": {"$ref": "#/components/responses/ConfluentError"}, "415": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{compatibility}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}}}
    },
    "/config/{subject}": {
      "get": {"summary": "Confluent: a subject's compatibility level", "operationId": "confluentGetSubjectConfig", "tags": ["schema registry"],
        "parameters": [{"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}},
          {"name": "defaultToGlobal", "in": "query", "description": "true or false; any other value is a 400", "schema": {"type": "boolean", "default": false}}],
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{compatibilityLevel}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}, "404": {"description": "error_code 40408"}}},
      "put": {"summary": "Confluent: set a subject's compatibility level", "operationId": "confluentPutSubjectConfig", "security": [{"adminToken": []}], "tags": ["schema registry"],
        "parameters": [{"name": "subject", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"$ref": "#/components/schemas/ConfluentConfigRequest"}}}},
        "responses": {"403": {"$ref": "#/components/responses/ConfluentError"}, "401": {"$ref": "#/components/responses/ConfluentError"}, "413": {"$ref": "#/components/responses/ConfluentError"}, "408": {"$ref": "#/components/responses/ConfluentError"}, "415": {"$ref": "#/components/responses/ConfluentError"}, "200": {"description": "{compatibility}", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object"}}}}}}
    },
    "/commands": {
      "get": {
        "summary": "Commands by status, newest first (the console's listing); page with nextBeforeSeq",
        "operationId": "listCommands",
        "parameters": [
          {"name": "status", "in": "query", "required": true, "description": "scheduled: pending with a durable timer not due yet (notBefore); retrying: pending after at least one failed attempt.", "schema": {"type": "string", "enum": ["pending", "scheduled", "retrying", "succeeded", "failed", "dead"]}},
          {"name": "beforeSeq", "in": "query", "description": "Only commands accepted before this place in the log (the previous page's nextBeforeSeq)", "schema": {"type": "integer", "minimum": 1}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}
        ],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "A page of commands", "content": {"application/json": {"schema": {"type": "object", "required": ["commands"], "properties": {
            "commands": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Command"}, {"type": "object", "properties": {"seq": {"type": "integer", "description": "The command's place in the log's acceptance order"}}}]}},
            "nextBeforeSeq": {"type": "integer", "description": "Present when there may be more: the next page's beforeSeq"},
            "truncatedByBytes": {"type": "boolean"}
          }}}}},
          "400": {"$ref": "#/components/responses/Problem"},
          "503": {"$ref": "#/components/responses/Problem"}
        }
      },
      "post": {
        "summary": "Send a command: 202 with its id, or with wait=true the resulting events once it finished",
        "operationId": "sendCommand", "security": [{"adminToken": []}],
        "parameters": [
          {"name": "wait", "in": "query", "description": "true: answer once the command finished; tree: once everything it caused has settled (no descendant pending or scheduled); false: at once. Any other value is a 400", "schema": {"type": "string", "enum": ["true", "false", "tree"], "default": "false"}},
          {"name": "timeoutMs", "in": "query", "description": "With wait=true or tree: how long to wait before answering 202", "schema": {"type": "integer", "minimum": 1, "maximum": 300000, "default": 30000}},
          {"$ref": "#/components/parameters/traceparent"}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewCommand"}}}},
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "413": {"$ref": "#/components/responses/Problem"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
          "202": {"description": "Accepted (or still running at the wait limit; with wait=tree, the tree so far with settled=false)", "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}, "status": {"$ref": "#/components/schemas/CommandStatus"}, "notBefore": {"type": "string", "format": "date-time"},
            "command": {"$ref": "#/components/schemas/Command"}, "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "commands": {"type": "array", "items": {"$ref": "#/components/schemas/Command"}}, "settled": {"type": "boolean"}}}}}},
          "200": {"description": "Finished (wait=true): succeeded, failed or dead; with wait=tree: the command's whole causal tree, settled", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "command": {"$ref": "#/components/schemas/Command"},
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}, "description": "wait=tree: every event of the tree, in position order"},
            "commands": {"type": "array", "items": {"$ref": "#/components/schemas/Command"}, "description": "wait=tree: every descendant command with its status"},
            "settled": {"type": "boolean"}, "truncated": {"type": "boolean"},
            "truncatedByBytes": {"type": "boolean", "description": "Not every event fitted in the response byte limit: command.resultEventIds names them all"}
          }}}}},
          "400": {"$ref": "#/components/responses/Problem"},
          "409": {"$ref": "#/components/responses/Problem"},
          "422": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/commands/{id}": {
      "get": {
        "summary": "A command and its processing record",
        "operationId": "getCommand",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "The command", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/aggregates/{entity}": {
      "get": {
        "summary": "An aggregate's state at its latest version (a lagging snapshot is caught up first)",
        "operationId": "getAggregate",
        "parameters": [{"$ref": "#/components/parameters/entity"}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "The aggregate; lagging=true when the aggregator cannot catch up", "content": {"application/json": {"schema": {"type": "object", "required": ["entity", "version", "state"], "properties": {
            "entity": {"type": "string"}, "version": {"type": "integer"}, "state": {"type": ["object", "null"]},
            "lagging": {"type": "boolean"}, "streamVersion": {"type": "integer"}, "error": {"type": "string"}
          }}}}},
          "400": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/aggregates": {
      "get": {
        "summary": "An aggregate's entities by their snapshots, in id order; every other query parameter FIELD=VALUE filters on a top-level state field (a unique field is an exact lookup)",
        "operationId": "listAggregates",
        "parameters": [
          {"name": "aggregate", "in": "query", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
          {"name": "after", "in": "query", "description": "The previous page's next", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
        ],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "A page of entities", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": {"type": "object", "required": ["entity", "version", "state"], "properties": {"entity": {"type": "string"}, "version": {"type": "integer"}, "state": {}}}},
            "next": {"type": "string"}}}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/aggregates/{aggregate}/rebuild": {
      "get": {
        "summary": "The progress of the last snapshot rebuild of the aggregate on this instance",
        "operationId": "getSnapshotRebuild",
        "parameters": [{"$ref": "#/components/parameters/aggregate"}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"$ref": "#/components/responses/SnapshotRebuild"}, "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      },
      "post": {
        "summary": "Refold every snapshot of the aggregate from its events with its aggregator as it is now (online)",
        "operationId": "rebuildSnapshots", "security": [{"adminToken": []}],
        "parameters": [{"$ref": "#/components/parameters/aggregate"}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "202": {"$ref": "#/components/responses/SnapshotRebuild"}, "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/views/{view}/{key}": {
      "get": {
        "summary": "A view document (position: the last event position its view reflects)",
        "operationId": "getViewDocument",
        "parameters": [{"$ref": "#/components/parameters/view"}, {"name": "key", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "The document", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ViewDocument"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/views/{view}": {
      "get": {
        "summary": "A view's documents in key order: those whose key starts with prefix, after after",
        "operationId": "listViewDocuments",
        "parameters": [{"$ref": "#/components/parameters/view"},
          {"name": "prefix", "in": "query", "schema": {"type": "string"}}, {"name": "after", "in": "query", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"$ref": "#/components/responses/ViewDocuments"}, "400": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/views/{view}/_get": {
      "post": {
        "summary": "Many view documents at once (those that exist, in the order asked)",
        "operationId": "getViewDocuments", "security": [{"adminToken": []}],
        "parameters": [{"$ref": "#/components/parameters/view"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["keys"], "additionalProperties": false, "properties": {"keys": {"type": "array", "maxItems": 1000, "items": {"type": "string"}}}}}}},
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "413": {"$ref": "#/components/responses/Problem"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"}, "200": {"$ref": "#/components/responses/ViewDocuments"}, "400": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/projectors": {
      "get": {
        "summary": "Every projector: cursor, lag, generation, state, last error",
        "operationId": "listProjectors",
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"description": "The projectors", "content": {"application/json": {"schema": {"type": "object", "properties": {"projectors": {"type": "array", "items": {"$ref": "#/components/schemas/Projector"}}}}}}}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/projectors/{name}": {
      "get": {
        "summary": "A projector: cursor, lag, generation, state (running, rebuilding, parked), last error",
        "operationId": "getProjector",
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"$ref": "#/components/responses/ProjectorAnswer"}, "404": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/projectors/{name}/rebuild": {
      "post": {
        "summary": "Replay from position 0 into a new generation of the projector's views; reads serve the current one until it has caught up, then swap",
        "operationId": "rebuildProjector", "security": [{"adminToken": []}],
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "202": {"$ref": "#/components/responses/ProjectorAnswer"}, "404": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/projectors/{name}/retry": {
      "post": {
        "summary": "Try a parked projector's batch again",
        "operationId": "retryProjector", "security": [{"adminToken": []}],
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "202": {"$ref": "#/components/responses/ProjectorAnswer"}, "404": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/queries/{name}": {
      "get": {
        "summary": "Call a query function with the query-string parameters; its result is the body",
        "operationId": "runQuery",
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"description": "The query's result", "content": {"application/json": {"schema": {}}}}, "400": {"$ref": "#/components/responses/Problem"}, "404": {"$ref": "#/components/responses/Problem"}, "502": {"$ref": "#/components/responses/Problem"}}
      }
    },
    "/functions": {
      "post": {
        "summary": "Register a function (admin)",
        "operationId": "registerFunction",
        "security": [{"adminToken": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Function"}}}},
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "413": {"$ref": "#/components/responses/Problem"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
          "201": {"description": "Registered and started", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Function"}}}},
          "400": {"$ref": "#/components/responses/Problem"},
          "401": {"$ref": "#/components/responses/Problem"},
          "409": {"$ref": "#/components/responses/Problem"}
        }
      },
      "get": {
        "summary": "The registered functions (admin)",
        "operationId": "listFunctions",
        "security": [{"adminToken": []}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "Functions", "content": {"application/json": {"schema": {"type": "object", "properties": {"functions": {"type": "array", "items": {"$ref": "#/components/schemas/Function"}}}}}}},
          "401": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/functions/{name}": {
      "put": {
        "summary": "Register or replace a function: a replacement is a rolling swap (new workers or replicas first, the old ones stop once their calls are done) (admin)",
        "operationId": "putFunction", "security": [{"adminToken": []}],
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Function"}}}},
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "413": {"$ref": "#/components/responses/Problem"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
          "200": {"description": "Replaced", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Function"}}}},
          "201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Function"}}}},
          "400": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}, "422": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}
        }
      },
      "get": {
        "summary": "One function, with its workers' status (admin)",
        "operationId": "getFunction",
        "security": [{"adminToken": []}],
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "The function", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Function"}}}},
          "401": {"$ref": "#/components/responses/Problem"},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      },
      "delete": {
        "summary": "Unregister a function and stop its workers (admin)",
        "operationId": "deleteFunction",
        "security": [{"adminToken": []}],
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "204": {"description": "Removed"},
          "401": {"$ref": "#/components/responses/Problem"},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/entities": {
      "get": {
        "summary": "Entity ids that start with a prefix, in byte order (the console's search); page with next",
        "operationId": "searchEntities",
        "parameters": [
          {"name": "prefix", "in": "query", "required": true, "description": "e.g. checking: or checking:an", "schema": {"type": "string", "minLength": 1}},
          {"name": "after", "in": "query", "description": "Only ids after this one (the previous page's next)", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}
        ],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "A page of entity ids", "content": {"application/json": {"schema": {"type": "object", "required": ["entities", "prefixSearch"], "properties": {
            "entities": {"type": "array", "items": {"type": "string"}},
            "next": {"type": "string", "description": "Present when there may be more: the next page's after"},
            "prefixSearch": {"type": "boolean", "description": "false when the store cannot search by prefix (PostgreSQL, for now): only an exact id is found"}
          }}}}},
          "400": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/ui": {
      "get": {
        "summary": "The web console (every /ui/... address serves the same page, which routes on its path): docs/console.md",
        "operationId": "console", "security": [],
        "responses": {"200": {"description": "The console's page", "content": {"text/html": {"schema": {"type": "string"}}}}}
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus metrics (text exposition): docs/operations.md lists them, docs/grafana-dashboard.json charts them",
        "operationId": "metrics", "security": [],
        "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}
      }
    },
    "/dead-letters": {
      "get": {
        "summary": "Commands and dispatches that failed for good (admin)",
        "operationId": "listDeadLetters",
        "security": [{"adminToken": []}],
        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"},
          "200": {"description": "Dead letters, newest first", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "deadLetters": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}},
            "truncatedByBytes": {"type": "boolean", "description": "The response byte limit was reached: later entries have commandOmitted, and entries that did not fit even so are left out"}
          }}}}},
          "401": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/dead-letters/{id}/retry": {
      "post": {
        "summary": "Retry a dead letter: a command goes back to pending; a dispatch is called again (admin)",
        "operationId": "retryDeadLetter",
        "security": [{"adminToken": []}],
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "413": {"$ref": "#/components/responses/Problem"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
          "202": {"description": "The command is pending again", "content": {"application/json": {"schema": {"type": "object"}}}},
          "200": {"description": "The dispatch succeeded; its commands are queued", "content": {"application/json": {"schema": {"type": "object"}}}},
          "401": {"$ref": "#/components/responses/Problem"},
          "404": {"$ref": "#/components/responses/Problem"},
          "409": {"$ref": "#/components/responses/Problem"},
          "502": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/kafka": {
      "get": {"summary": "The Kafka relay: cursor, lag, in flight, published, resent, errors", "operationId": "kafkaStatus",
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"description": "Status; configured false (and the head position) when the server runs without Kafka", "content": {"application/json": {"schema": {"type": "object", "required": ["configured", "headPosition"], "properties": {"configured": {"type": "boolean"}, "headPosition": {"type": "integer"}}}}}}}}
    },
    "/kafka/republish": {
      "post": {"summary": "Publish history again from a position (admin)", "operationId": "kafkaRepublish", "security": [{"adminToken": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"fromPosition": {"type": "integer", "minimum": 1}}}}}},
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "413": {"$ref": "#/components/responses/Problem"}, "408": {"$ref": "#/components/responses/RequestTimeout"}, "415": {"$ref": "#/components/responses/UnsupportedMediaType"}, "202": {"description": "Republishing", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/Problem"}, "409": {"$ref": "#/components/responses/Problem"}, "503": {"$ref": "#/components/responses/Problem"}}}
    },
    "/cluster": {
      "get": {"summary": "The cluster: live instances, the partitions each holds, who runs each relay (mode single on SQLite)", "operationId": "cluster",
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "503": {"$ref": "#/components/responses/Problem"}, "200": {"description": "Cluster", "content": {"application/json": {"schema": {"type": "object", "required": ["mode", "instances", "partitions"], "properties": {
          "mode": {"type": "string", "enum": ["single", "cluster"]},
          "self": {"type": "string"},
          "instances": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "address": {"type": "string"}, "partitions": {"type": "array", "items": {"type": "integer"}},
            "lastSeen": {"type": "string", "format": "date-time"}, "startedAt": {"type": "string", "format": "date-time"}}}},
          "partitions": {"type": "integer"},
          "unownedPartitions": {"type": "integer"},
          "relays": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "instance": {"type": "string"}, "token": {"type": "integer"}, "expiresAt": {"type": "string", "format": "date-time"}}}}
        }}}}}}
      }
    },
    "/healthz": {
      "get": {
        "summary": "Liveness and the store's head position",
        "operationId": "health", "security": [],
        "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"description": "Healthy", "content": {"application/json": {"schema": {"type": "object", "properties": {
          "status": {"type": "string"}, "headPosition": {"type": "integer"}, "commandBacklog": {"type": "integer"}
        }}}}}}
      }
    },
    "/openapi.json": {
      "get": {"summary": "This document", "operationId": "openapi", "security": [], "responses": {"403": {"$ref": "#/components/responses/Forbidden"}, "200": {"description": "OpenAPI document", "content": {"application/json": {}}}}}
    }
  },
  "components": {
    "securitySchemes": {
      "adminToken": {"type": "http", "scheme": "bearer", "description": "A token of EVENTO_TOKENS (scopes read ⊂ write ⊂ admin), EVENTO_ADMIN_TOKEN, or an HS256 JWT, when the server has any: then every route but /healthz, /metrics, /openapi.json and /ui needs one of a large enough scope (docs/security.md: the route table)"}
    },
    "parameters": {
      "traceparent": {"name": "traceparent", "in": "header", "description": "W3C trace context; the default for items without their own", "schema": {"type": "string"}},
      "aggregate": {"name": "aggregate", "in": "path", "required": true, "description": "An aggregate name (an Avro name)", "schema": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "maxLength": 128, "examples": ["checking"]}},
      "entity": {"name": "entity", "in": "path", "required": true, "description": "AGGREGATE:ID; the id has no whitespace or control characters (at most 256 UTF-8 bytes in all)", "schema": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*:[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$", "maxLength": 256, "examples": ["checking:6789-21"]}},
      "subjectVersion": {"name": "version", "in": "path", "required": true, "description": "A version number (1 to 2^31-1) or latest", "schema": {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 2147483647}, {"type": "string", "enum": ["latest"]}]}},
      "view": {"name": "view", "in": "path", "required": true, "description": "A view name: a letter, then letters, digits, _ - . (at most 128)", "schema": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]{0,127}$"}}
    },
    "responses": {
      "Problem": {"description": "RFC 9457 problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "Forbidden": {"description": "The Host header does not name this server (field Host), or the Origin header is not the server itself nor in --allowed-origins (field Origin)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "Unauthorized": {"description": "The server has an admin token and the request changes state (or reads functions or dead letters) without it", "headers": {"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}}, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "UnsupportedMediaType": {"description": "The body is not declared as JSON (application/json or application/*+json), or has no Content-Type", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "RequestTimeout": {"description": "The body did not arrive within --body-timeout-ms; the connection is closed", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "ViewDocuments": {"description": "View documents, and next (the key to page after) when there may be more", "content": {"application/json": {"schema": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/ViewDocument"}}, "next": {"type": "string"}, "truncatedByBytes": {"type": "boolean"}}}}}},
      "ProjectorAnswer": {"description": "The projector", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Projector"}}}},
      "SnapshotRebuild": {"description": "A snapshot rebuild's progress", "content": {"application/json": {"schema": {"type": "object", "required": ["aggregate", "state", "entities"], "properties": {
        "aggregate": {"type": "string"}, "state": {"type": "string", "enum": ["running", "done", "failed"]}, "entities": {"type": "integer"}, "events": {"type": "integer"},
        "failures": {"type": "integer"}, "lastError": {"type": ["string", "null"]}, "startedAt": {"type": "string", "format": "date-time"}, "finishedAt": {"type": "string", "format": "date-time"}}}}}},
      "ConfluentError": {"description": "Confluent Schema Registry error (error_code is the HTTP status, or Confluent's own code)", "content": {"application/vnd.schemaregistry.v1+json": {"schema": {"type": "object", "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}}}}}}
    },
    "schemas": {
      "ConfluentSchemaRequest": {"type": "object", "required": ["schema"], "properties": {
        "schema": {"type": "string", "description": "The Avro schema's JSON, as a string"}, "schemaType": {"type": "string", "enum": ["AVRO"]},
        "references": {"type": "array", "maxItems": 0, "description": "Not supported: must be empty when given"}}},
      "ConfluentConfigRequest": {"type": "object", "required": ["compatibility"], "properties": {
        "compatibility": {"type": "string", "enum": ["NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"]}}},
      "ViewDocument": {"type": "object", "required": ["key", "doc", "position"], "properties": {"key": {"type": "string"}, "doc": {"type": "object"}, "position": {"type": "integer", "description": "The last event position the view reflects"}}},
      "Projector": {"type": "object", "required": ["name", "cursor", "lag", "generation", "state"], "properties": {
        "name": {"type": "string"}, "cursor": {"type": "integer"}, "lag": {"type": "integer"}, "generation": {"type": "integer"},
        "state": {"type": "string", "enum": ["running", "rebuilding", "parked"]}, "lastError": {"type": ["string", "null"]},
        "rebuildCursor": {"type": "integer"}, "events": {"type": "array", "items": {"type": "string"}}, "updatedAt": {"type": "string", "format": "date-time"}}},
      "CommandStatus": {"type": "string", "enum": ["pending", "scheduled", "succeeded", "failed", "dead"], "description": "scheduled: pending with a durable timer (notBefore) not due yet"},
      "NewCommand": {
        "type": "object",
        "required": ["entity", "type", "payload"],
        "additionalProperties": false,
        "properties": {
          "id": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$", "description": "Unique id; generated when absent. A known id returns the known command. At most 200 UTF-8 bytes, no whitespace."},
          "entity": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*:[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$", "maxLength": 256, "description": "AGGREGATE:ID (at most 256 UTF-8 bytes)", "examples": ["checking:6789-21"]},
          "type": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
          "payload": {"type": "object"},
          "causationId": {"type": "string"},
          "causationKind": {"type": "string", "enum": ["command", "event", "external"]},
          "correlationId": {"type": "string"},
          "traceparent": {"type": "string"},
          "notBefore": {"type": "string", "format": "date-time", "description": "A durable timer: the command runs at this RFC 3339 time, not before (a past time: at once)"},
          "delayMs": {"type": "integer", "minimum": 0, "maximum": 316224000000, "description": "A durable timer: the command runs this long after it is accepted (not with notBefore)"}
        }
      },
      "Command": {
        "type": "object",
        "required": ["id", "entity", "type", "payload", "causationKind", "correlationId", "status", "attempts", "resultEventIds"],
        "properties": {
          "id": {"type": "string"}, "entity": {"type": "string"}, "type": {"type": "string"}, "payload": {"type": "object"},
          "causationId": {"type": "string"}, "causationKind": {"type": "string", "enum": ["command", "event", "external"]},
          "correlationId": {"type": "string"}, "traceparent": {"type": "string"},
          "status": {"$ref": "#/components/schemas/CommandStatus"}, "attempts": {"type": "integer"}, "lastError": {"type": "string"},
          "resultEventIds": {"type": "array", "items": {"type": "string"}},
          "createdAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"},
          "notBefore": {"type": "string", "format": "date-time", "description": "Its durable timer, when it has one"}
        }
      },
      "Function": {
        "type": "object",
        "required": ["name", "kind", "transport"],
        "properties": {
          "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
          "kind": {"type": "string", "enum": ["handler", "aggregator", "dispatcher", "projector", "query"]},
          "aggregate": {"type": "string", "description": "handler and aggregator: the aggregate served"},
          "events": {"type": "array", "items": {"type": "string"}, "description": "dispatcher and projector: event types (Type, aggregate.Type, aggregate.* or *)"},
          "transport": {"oneOf": [
            {"type": "object", "required": ["http"], "properties": {"http": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}}},
            {"type": "object", "required": ["process"], "properties": {"process": {"type": "object", "required": ["command"], "properties": {
              "command": {"type": "array", "items": {"type": "string"}, "minItems": 1},
              "workers": {"type": "integer", "minimum": 1, "maximum": 64, "default": 2},
              "env": {"type": "object", "additionalProperties": {"type": "string"}},
              "cwd": {"type": "string"}
            }}}},
            {"type": "object", "required": ["container"], "properties": {"container": {"type": "object", "required": ["image"], "properties": {
              "image": {"type": "string", "description": "an image on the host (never pulled), e.g. localhost/evento-fn-savings:latest"},
              "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
              "replicas": {"type": "integer", "minimum": 1, "maximum": 32, "default": 1},
              "env": {"type": "object", "additionalProperties": {"type": "string"}},
              "cpu": {"type": "number", "exclusiveMinimum": 0, "description": "cores"},
              "memory": {"type": "string", "pattern": "^[0-9]+[bkmgBKMG]?$"},
              "startTimeoutMs": {"type": "integer", "minimum": 1000, "maximum": 600000, "default": 60000}
            }}}}
          ]},
          "maxBatch": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1, "description": "calls sent together in one batch request"},
          "timeoutMs": {"type": "integer", "minimum": 1, "maximum": 600000, "default": 10000},
          "maxAttempts": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
          "status": {"type": "object", "description": "process functions: live worker pids and restarts; container functions: the engine, the replicas and restarts", "properties": {
            "workers": {"type": "array", "items": {"type": "integer"}}, "restarts": {"type": "integer"},
            "engine": {"type": "string"},
            "replicas": {"type": "array", "items": {"type": "object", "properties": {
              "index": {"type": "integer"}, "port": {"type": "integer"}, "healthy": {"type": "boolean"}, "container": {"type": "string"}
            }}}
          }}
        }
      },
      "DeadLetter": {
        "type": "object",
        "required": ["id", "kind", "attempts"],
        "properties": {
          "id": {"type": "string"}, "kind": {"type": "string", "enum": ["command", "dispatch"]}, "function": {"type": "string"},
          "attempts": {"type": "integer"}, "lastError": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
          "command": {"$ref": "#/components/schemas/Command"}, "eventId": {"type": "string"},
          "commandOmitted": {"type": "boolean", "description": "Past the response byte limit: the command is left out (GET /commands/{id} has it) and lastError is cut to 500 characters"}
        }
      },
      "ExpectedVersion": {
        "oneOf": [
          {"type": "integer", "minimum": 0, "description": "Exact version; 0 = the stream must not exist"},
          {"type": "string", "enum": ["any", "noStream", "exists"]}
        ]
      },
      "NewEvent": {
        "type": "object",
        "required": ["entity", "type"],
        "not": {"required": ["payload", "payloadAvro"]},
        "additionalProperties": false,
        "properties": {
          "id": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$", "description": "Unique id; generated (UUIDv7) when absent. A stored id returns the stored event. At most 200 UTF-8 bytes, no whitespace."},
          "entity": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*:[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$", "maxLength": 256, "description": "AGGREGATE:ID (at most 256 UTF-8 bytes)", "examples": ["checking:6789-21"]},
          "type": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
          "payload": {"type": "object", "description": "The payload in its natural JSON form (give this or payloadAvro)"},
          "payloadAvro": {"type": "string", "contentEncoding": "base64", "description": "The payload in the Confluent wire format, base64"},
          "causationId": {"type": "string"},
          "causationKind": {"type": "string", "enum": ["command", "event", "external"]},
          "correlationId": {"type": "string"},
          "traceparent": {"type": "string"},
          "expectedVersion": {"$ref": "#/components/schemas/ExpectedVersion"}
        }
      },
      "Event": {
        "type": "object",
        "required": ["id", "entity", "type", "sequence", "position", "time", "payload", "causationKind", "correlationId"],
        "properties": {
          "id": {"type": "string"},
          "entity": {"type": "string"},
          "type": {"type": "string"},
          "sequence": {"type": "integer", "minimum": 1},
          "position": {"type": "integer", "minimum": 1},
          "time": {"type": "string", "format": "date-time"},
          "payload": {"type": "object"},
          "causationId": {"type": "string"},
          "causationKind": {"type": "string", "enum": ["command", "event", "external"]},
          "correlationId": {"type": "string"},
          "traceparent": {"type": "string"},
          "schemaId": {"type": "integer"}
        }
      },
      "TraceNode": {
        "type": "object",
        "required": ["id", "kind"],
        "properties": {
          "id": {"type": "string"},
          "kind": {"type": "string", "enum": ["event", "command", "external"]},
          "missing": {"type": "boolean"},
          "caused": {"type": "array", "items": {"$ref": "#/components/schemas/TraceNode"}},
          "truncated": {"type": "boolean", "description": "Its children were left out at the depth limit (128 generations): trace this node's id to see them"}
        },
        "additionalProperties": true
      },
      "Trace": {
        "type": "object",
        "required": ["chain", "descendants"],
        "properties": {
          "id": {"type": "string"},
          "chain": {"type": "array", "description": "From the root to the item itself", "items": {"$ref": "#/components/schemas/TraceNode"}},
          "descendants": {"type": "array", "items": {"$ref": "#/components/schemas/TraceNode"}},
          "truncated": {"type": "boolean", "description": "descendants is not complete: cut at the depth limit (see the nodes' truncated), at 10,000 nodes or at the byte limit"},
          "truncatedByBytes": {"type": "boolean", "description": "descendants was cut at the response byte limit"},
          "chainTruncated": {"type": "boolean", "description": "chain stops before the root (1,000 links or the byte limit): trace the first link's causationId to continue"}
        }
      },
      "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
          "type": {"type": "string", "description": "/problems/<slug>, see docs/errors.md"},
          "title": {"type": "string"},
          "status": {"type": "integer"},
          "detail": {"type": "string"},
          "instance": {"type": "string"},
          "field": {"type": "string", "description": "The part of the request at fault, e.g. events[2].entity"}
        },
        "additionalProperties": true
      }
    }
  }
}
"""#
}
