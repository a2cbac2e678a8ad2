using CompressionLab.Core.Quantization;
using Microsoft.Data.Sqlite;

namespace CompressionLab.Core.Workspace;

/// <summary>Identity of a calibration profile: the weights, the dataset and the calibration subset (<see cref="Models.AnalysisSubset.Key"/>).</summary>
public sealed record CalibrationProfileKey(string ModelHash, string Dataset, string Subset)
{
    public static CalibrationProfileKey Of(CalibrationProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return new(profile.WeightsHash, profile.Dataset, profile.SubsetKey);
    }
}

/// <summary>
/// Calibration profiles in the workspace database (<c>calibration_profiles</c>), one per (weights hash, dataset, subset):
/// collected once, read back whenever the same weights are calibrated on the same images (the quantization page opens
/// instantly, <c>calibrate</c> skips the collection pass).
/// </summary>
/// <remarks>Safe to use from several threads and processes (WAL, one connection per call); the newest profile of a key wins.</remarks>
public sealed class CalibrationProfileStore(WorkspaceDatabase database)
{
    private readonly WorkspaceDatabase _database = database ?? throw new ArgumentNullException(nameof(database));

    /// <summary>The stored profile; null when there is none (or it is damaged: then it is collected again and overwritten).</summary>
    public CalibrationProfile? Find(CalibrationProfileKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var blob = _database.QuerySingleOrDefault(
            "SELECT profile FROM calibration_profiles WHERE model_hash = $hash AND dataset = $dataset AND subset = $subset;",
            row => (byte[])row.GetValue(0),
            ("$hash", key.ModelHash), ("$dataset", key.Dataset), ("$subset", key.Subset));
        if (blob is null) return null;
        try
        {
            return CalibrationProfileCodec.Read(blob);
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    public void Save(CalibrationProfile profile, Guid? jobId = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        _database.Execute(
            """
            INSERT INTO calibration_profiles (model_hash, dataset, subset, architecture, images, collect_seconds, profile, job_id, created_at)
            VALUES ($hash, $dataset, $subset, $arch, $images, $seconds, $profile, $job, $created)
            ON CONFLICT (model_hash, dataset, subset) DO UPDATE SET
                architecture = excluded.architecture, images = excluded.images, collect_seconds = excluded.collect_seconds,
                profile = excluded.profile, job_id = excluded.job_id, created_at = excluded.created_at;
            """,
            ("$hash", profile.WeightsHash),
            ("$dataset", profile.Dataset),
            ("$subset", profile.SubsetKey),
            ("$arch", profile.Architecture),
            ("$images", profile.Images),
            ("$seconds", profile.CollectSeconds),
            ("$profile", CalibrationProfileCodec.Write(profile)),
            ("$job", jobId?.ToString()),
            ("$created", WorkspaceTime.Format(DateTimeOffset.UtcNow)));
    }

    /// <summary>The keys of every stored profile of one model's weights.</summary>
    public IReadOnlyList<CalibrationProfileKey> List(string modelHash) =>
        _database.Query(
            "SELECT model_hash, dataset, subset FROM calibration_profiles WHERE model_hash = $hash ORDER BY created_at DESC;",
            (SqliteDataReader row) => new CalibrationProfileKey(row.GetString(0), row.GetString(1), row.GetString(2)),
            ("$hash", modelHash));
}
