-- One database per service; each service migrates its own (`python -m itsm_<service> migrate`).
CREATE DATABASE itsm_gateway;
CREATE DATABASE itsm_incidents;
CREATE DATABASE itsm_changes;
CREATE DATABASE itsm_problems;
CREATE DATABASE itsm_cmdb;
CREATE DATABASE itsm_sla;
CREATE DATABASE itsm_notifications;
CREATE DATABASE itsm_requests;
CREATE DATABASE itsm_knowledge;
