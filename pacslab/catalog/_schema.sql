-- pacslab catalog, schema version 1.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE IF NOT EXISTS patients (
    PatientID TEXT PRIMARY KEY,
    PatientName TEXT COLLATE NOCASE,
    IssuerOfPatientID TEXT,
    PatientBirthDate TEXT,
    PatientSex TEXT
);
CREATE INDEX IF NOT EXISTS ix_patients_name ON patients (PatientName);

CREATE TABLE IF NOT EXISTS studies (
    StudyInstanceUID TEXT PRIMARY KEY,
    PatientID TEXT NOT NULL DEFAULT '',
    PatientName TEXT COLLATE NOCASE,
    IssuerOfPatientID TEXT,
    PatientBirthDate TEXT,
    PatientSex TEXT,
    StudyDate TEXT,
    StudyTime TEXT,
    AccessionNumber TEXT,
    StudyDescription TEXT COLLATE NOCASE,
    ReferringPhysicianName TEXT COLLATE NOCASE,
    StudyID TEXT,
    ModalitiesInStudy TEXT,
    NumberOfStudyRelatedSeries INTEGER NOT NULL DEFAULT 0,
    NumberOfStudyRelatedInstances INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_studies_patient_id ON studies (PatientID);
CREATE INDEX IF NOT EXISTS ix_studies_patient_name ON studies (PatientName);
CREATE INDEX IF NOT EXISTS ix_studies_date ON studies (StudyDate, StudyTime);
CREATE INDEX IF NOT EXISTS ix_studies_accession ON studies (AccessionNumber);
CREATE INDEX IF NOT EXISTS ix_studies_description ON studies (StudyDescription);

CREATE TABLE IF NOT EXISTS series (
    SeriesInstanceUID TEXT PRIMARY KEY,
    StudyInstanceUID TEXT NOT NULL REFERENCES studies (StudyInstanceUID),
    Modality TEXT,
    SeriesNumber INTEGER,
    SeriesDescription TEXT COLLATE NOCASE,
    BodyPartExamined TEXT,
    SeriesDate TEXT,
    SeriesTime TEXT,
    FrameOfReferenceUID TEXT,
    NumberOfSeriesRelatedInstances INTEGER NOT NULL DEFAULT 0,
    -- none: no image instances; pending: to (re)build; ready; failed (see volume_reason)
    volume_state TEXT NOT NULL DEFAULT 'none',
    volume_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_series_study ON series (StudyInstanceUID);
-- ModalitiesInStudy matching looks up (study, modality) pairs: without this it scans every series of the modality
CREATE INDEX IF NOT EXISTS ix_series_study_modality ON series (StudyInstanceUID, Modality);
CREATE INDEX IF NOT EXISTS ix_series_modality ON series (Modality);
CREATE INDEX IF NOT EXISTS ix_series_state ON series (volume_state);
CREATE INDEX IF NOT EXISTS ix_series_updated ON series (updated_at);

CREATE TABLE IF NOT EXISTS instances (
    SOPInstanceUID TEXT PRIMARY KEY,
    SeriesInstanceUID TEXT NOT NULL REFERENCES series (SeriesInstanceUID),
    StudyInstanceUID TEXT NOT NULL,
    SOPClassUID TEXT,
    InstanceNumber INTEGER,
    Rows INTEGER,
    Columns INTEGER,
    NumberOfFrames INTEGER,
    TransferSyntaxUID TEXT,
    has_pixels INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored_key TEXT NOT NULL,
    stored_codec TEXT NOT NULL,
    stored_size INTEGER NOT NULL,
    -- set when the pixel data lives in the series' volume (stored_codec 'pxr'): which frames
    pixel_ref TEXT,
    source TEXT,
    received_at TEXT NOT NULL,
    geometry TEXT,
    header TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_instances_series ON instances (SeriesInstanceUID, InstanceNumber);
CREATE INDEX IF NOT EXISTS ix_instances_study ON instances (StudyInstanceUID);
CREATE INDEX IF NOT EXISTS ix_instances_sop_class ON instances (SOPClassUID);
CREATE INDEX IF NOT EXISTS ix_instances_sha ON instances (sha256);

-- Same SOPInstanceUID, different content: kept beside the first one, never overwriting it.
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY,
    SOPInstanceUID TEXT NOT NULL,
    SeriesInstanceUID TEXT,
    StudyInstanceUID TEXT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored_key TEXT NOT NULL,
    source TEXT,
    received_at TEXT NOT NULL,
    header TEXT,
    UNIQUE (SOPInstanceUID, sha256)
);

CREATE TABLE IF NOT EXISTS volumes (
    SeriesInstanceUID TEXT NOT NULL REFERENCES series (SeriesInstanceUID),
    stack_index INTEGER NOT NULL,
    path TEXT NOT NULL,
    dims TEXT NOT NULL,
    shape TEXT NOT NULL,
    dtype TEXT NOT NULL,
    n_frames INTEGER NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (SeriesInstanceUID, stack_index)
);

CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    sha256 TEXT,
    quarantine_path TEXT,
    rejected_at TEXT NOT NULL
);

-- Append-only: who did what, when, from where, to which UIDs, with what outcome.
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT,
    address TEXT,
    action TEXT NOT NULL,
    service TEXT,
    uids TEXT,
    count INTEGER,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS ix_audit_time ON audit (time);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;

-- Who builds the volumes of a series right now: one builder at a time, across processes.
CREATE TABLE IF NOT EXISTS volume_builds (
    SeriesInstanceUID TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    claimed_at TEXT NOT NULL
);
