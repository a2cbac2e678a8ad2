namespace CompressionLab.Core.Workspace;

/// <summary>One step of the workspace schema; applied once, in version order, inside a transaction.</summary>
/// <param name="Version">1, 2, 3, ... without gaps.</param>
/// <param name="Name">What the step adds, for the <c>schema_version</c> table and error messages.</param>
/// <param name="Sql">One or more SQL statements.</param>
public sealed record WorkspaceMigration(int Version, string Name, string Sql);

/// <summary>
/// The whole history of the workspace database, oldest first. A feature that needs a table appends
/// one line here. Never edit or reorder a migration that has shipped: workspaces already carry it.
/// </summary>
public static class WorkspaceSchema
{
    public static IReadOnlyList<WorkspaceMigration> Migrations { get; } =
    [
        new(1, "models", """
            CREATE TABLE models (
                id              TEXT PRIMARY KEY,
                display_name    TEXT NOT NULL,
                architecture    TEXT NOT NULL,
                dataset         TEXT NOT NULL,
                top1            REAL NULL,
                parameter_count INTEGER NOT NULL,
                content_hash    TEXT NOT NULL UNIQUE,
                file_path       TEXT NOT NULL,
                created_at      TEXT NOT NULL,
                metadata_json   TEXT NOT NULL DEFAULT '{}'
            );
            """),
        new(2, "jobs", """
            CREATE TABLE jobs (
                id              TEXT PRIMARY KEY,
                kind            TEXT NOT NULL,
                title           TEXT NOT NULL,
                parameters_json TEXT NOT NULL,
                state           TEXT NOT NULL,
                fraction        REAL NOT NULL DEFAULT 0,
                eta_seconds     REAL NULL,
                message         TEXT NOT NULL DEFAULT '',
                error           TEXT NULL,
                result_json     TEXT NULL,
                created_at      TEXT NOT NULL,
                started_at      TEXT NULL,
                finished_at     TEXT NULL,
                owner           TEXT NULL
            );
            CREATE INDEX jobs_by_created_at ON jobs (created_at DESC);
            CREATE INDEX jobs_by_state ON jobs (state);
            """),
        // Sensitivity sweeps: every finished (layer, level) cell keyed by what produced it, so a repeated sweep
        // is served from here and an interrupted one resumes; and the list of sweeps run, to reopen them.
        new(3, "sweeps", """
            CREATE TABLE sweep_cells (
                model_hash      TEXT NOT NULL,
                dataset         TEXT NOT NULL,
                subset          TEXT NOT NULL,
                criterion       TEXT NOT NULL,
                layer           TEXT NOT NULL,
                level           REAL NOT NULL,
                actual_sparsity REAL NOT NULL,
                top1            REAL NOT NULL,
                top5            REAL NOT NULL,
                loss            REAL NOT NULL,
                top1_drop       REAL NOT NULL,
                created_at      TEXT NOT NULL,
                PRIMARY KEY (model_hash, dataset, subset, criterion, layer, level)
            ) WITHOUT ROWID;
            CREATE TABLE sweeps (
                id              TEXT PRIMARY KEY,
                job_id          TEXT NULL,
                model_id        TEXT NULL,
                model_hash      TEXT NOT NULL,
                model_name      TEXT NOT NULL,
                architecture    TEXT NOT NULL,
                dataset         TEXT NOT NULL,
                subset          TEXT NOT NULL,
                subset_size     INTEGER NOT NULL,
                criterion       TEXT NOT NULL,
                levels_json     TEXT NOT NULL,
                layers_json     TEXT NOT NULL,
                created_at      TEXT NOT NULL,
                finished_at     TEXT NULL,
                result_json     TEXT NULL
            );
            CREATE INDEX sweeps_by_created_at ON sweeps (created_at DESC);
            CREATE INDEX sweeps_by_job ON sweeps (job_id);
            """),
        // A level used to round up to every unit of a small layer (0.95 of 7 filters pruned all 7); now a level
        // below 1 always leaves one unit. Cells that pruned a whole layer measured something no level asks for:
        // they are dropped, and finished sweeps that hold one become unfinished, so a resume measures them again
        // (their other cells stay stored).
        new(4, "sweep levels leave a unit", """
            DELETE FROM sweep_cells WHERE criterion <> 'dense' AND actual_sparsity >= 1;
            UPDATE sweeps SET result_json = NULL, finished_at = NULL
            WHERE result_json IS NOT NULL
              AND EXISTS (SELECT 1 FROM json_each(result_json, '$.cells') WHERE json_extract(value, '$.actualSparsity') >= 1);
            """),
        // The ids a job is tied to (JobLinks) become columns, read as typed values, instead of keys looked up in its
        // parameters: the sweep row a sweep job fills and the training a resumed training continues. Jobs recorded
        // before this step carried them as "sweepId" and "resumesJob" parameters; those are copied over once here.
        new(5, "job links", """
            ALTER TABLE jobs ADD COLUMN subject_id TEXT NULL;
            ALTER TABLE jobs ADD COLUMN resumes_job_id TEXT NULL;
            UPDATE jobs SET subject_id = json_extract(parameters_json, '$.sweepId')
            WHERE kind = 'sweep' AND json_valid(parameters_json) AND json_type(parameters_json, '$.sweepId') = 'text';
            UPDATE jobs SET resumes_job_id = json_extract(parameters_json, '$.resumesJob')
            WHERE kind = 'train' AND json_valid(parameters_json) AND json_type(parameters_json, '$.resumesJob') = 'text';
            """),
        // Cells are keyed by everything that can change them: the batch size (float rounding differs between batches) and
        // the engine version (SweepCellKey.CurrentEngine), so a later change of the arithmetic invalidates cells by key.
        // The cells stored so far were computed by engine 1 (accuracies in percent, the sweep's own normalisation and
        // metrics): no key of this engine can match them, so they are dropped rather than kept beside fractions. Sweeps
        // record their batch size (64 before it was a choice); finished ones keep their documents, which say their units
        // (SensitivityExport.FromJson reads percent ones). Finished sweep jobs' results get their baseline in fractions.
        new(6, "sweep cells keyed by batch size and engine", """
            DROP TABLE sweep_cells;
            CREATE TABLE sweep_cells (
                model_hash      TEXT NOT NULL,
                dataset         TEXT NOT NULL,
                subset          TEXT NOT NULL,
                batch_size      INTEGER NOT NULL,
                engine          INTEGER NOT NULL,
                criterion       TEXT NOT NULL,
                layer           TEXT NOT NULL,
                level           REAL NOT NULL,
                actual_sparsity REAL NOT NULL,
                top1            REAL NOT NULL,
                top5            REAL NOT NULL,
                loss            REAL NOT NULL,
                top1_drop       REAL NOT NULL,
                created_at      TEXT NOT NULL,
                PRIMARY KEY (model_hash, dataset, subset, batch_size, engine, criterion, layer, level)
            ) WITHOUT ROWID;
            ALTER TABLE sweeps ADD COLUMN batch_size INTEGER NOT NULL DEFAULT 64;
            UPDATE jobs SET result_json = json_set(result_json,
                    '$.baseline.top1', json_extract(result_json, '$.baseline.top1') / 100.0,
                    '$.baseline.top5', json_extract(result_json, '$.baseline.top5') / 100.0)
            WHERE kind = 'sweep' AND json_valid(result_json) AND json_type(result_json, '$.baseline.top1') IN ('integer', 'real');
            """),
        // Evaluated pruning plans, keyed by what produced the measurement: the weights, the images (dataset and
        // subset) and the plan's content (its per-layer levels and methods), so a repeated evaluation is read back
        // and plans can be compared. Sparsity, parameters and MACs are kept beside the accuracy for the comparison.
        new(7, "plan evaluations", """
            CREATE TABLE plan_evaluations (
                model_hash      TEXT NOT NULL,
                dataset         TEXT NOT NULL,
                subset          TEXT NOT NULL,
                plan_hash       TEXT NOT NULL,
                model_name      TEXT NOT NULL,
                architecture    TEXT NOT NULL,
                subset_size     INTEGER NOT NULL,
                levels_json     TEXT NOT NULL,
                top1            REAL NOT NULL,
                top5            REAL NOT NULL,
                loss            REAL NOT NULL,
                sparsity        REAL NOT NULL,
                parameters      INTEGER NOT NULL,
                macs            INTEGER NOT NULL,
                seconds         REAL NOT NULL,
                job_id          TEXT NULL,
                created_at      TEXT NOT NULL,
                PRIMARY KEY (model_hash, dataset, subset, plan_hash)
            ) WITHOUT ROWID;
            CREATE INDEX plan_evaluations_by_created_at ON plan_evaluations (created_at DESC);
            """),
        // INT8 calibration profiles (per-layer statistics and histograms of a model's weights over a calibration subset),
        // keyed by what produced them, so reopening the quantization page or re-running calibrate reads them back
        // instead of collecting again. The profile itself is one compressed blob (CalibrationProfileCodec): it is
        // always read and written whole.
        new(8, "calibration profiles", """
            CREATE TABLE calibration_profiles (
                model_hash      TEXT NOT NULL,
                dataset         TEXT NOT NULL,
                subset          TEXT NOT NULL,
                architecture    TEXT NOT NULL,
                images          INTEGER NOT NULL,
                collect_seconds REAL NOT NULL,
                profile         BLOB NOT NULL,
                job_id          TEXT NULL,
                created_at      TEXT NOT NULL,
                PRIMARY KEY (model_hash, dataset, subset)
            ) WITHOUT ROWID;
            """),
        // Simulated INT8 measurements (issue 8), keyed by what produced them: the weights, the calibration images the
        // thresholds came from, the evaluated images, and the configuration (float, or a quantization choice's key).
        new(9, "int8 evaluations", """
            CREATE TABLE int8_evaluations (
                model_hash          TEXT NOT NULL,
                dataset             TEXT NOT NULL,
                calibration_subset  TEXT NOT NULL,
                evaluation_subset   TEXT NOT NULL,
                configuration       TEXT NOT NULL,
                architecture        TEXT NOT NULL,
                top1                REAL NOT NULL,
                top5                REAL NOT NULL,
                loss                REAL NOT NULL,
                samples             INTEGER NOT NULL,
                seconds             REAL NOT NULL,
                job_id              TEXT NULL,
                created_at          TEXT NOT NULL,
                PRIMARY KEY (model_hash, dataset, calibration_subset, evaluation_subset, configuration)
            ) WITHOUT ROWID;
            """),
    ];
}
