"""Gateways: hospital feeds in, readings of the contract out to Kafka.

``hl7`` (``vitalwatch gateway hl7``) listens for HL7 v2 ORU^R01 messages over MLLP, as IHE
PCD-01 device gateways send them. Modules, in the order a message passes them:
``mllp`` (the listener and its answers) -> ``oru`` (message -> readings, with ``codes``, the
MDC code and unit table) -> ``records`` (readings and dead letters as Kafka records) ->
``publish`` (produce and wait for the brokers' confirmation) -> ``ack`` (the HL7 answer).
``service`` runs it all as a command. ``records`` and ``publish`` are protocol-free.

``fhir`` (``vitalwatch gateway fhir``) takes FHIR R4 vital-sign Observations over HTTP:
``fhir_api`` (the endpoints, on the notification API's server and credentials) -> ``fhir``
(body -> readings, with ``loinc``, the LOINC table, and ``oru``'s value and time checks) ->
``records`` -> ``publish``, then 201 or an OperationOutcome.
"""
