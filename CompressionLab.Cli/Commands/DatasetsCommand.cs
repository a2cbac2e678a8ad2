namespace CompressionLab.Cli.Commands;

/// <summary><c>datasets [--json]</c>: the datasets the CLI can find, where, and how many images each part has.</summary>
public sealed class DatasetsCommand : ICliCommand
{
    public string Name => "datasets";
    public string Summary => "list the datasets found and where";
    public IReadOnlyList<OptionSpec> Options { get; } = [new("json", "print one JSON object", IsFlag: true)];

    public int Run(ParsedOptions options, CliContext context)
    {
        var rows = new List<Dictionary<string, object>>();
        foreach (var dataset in DatasetSource.Find(context))
        {
            rows.Add(new()
            {
                ["name"] = dataset.Name,
                ["path"] = dataset.Path ?? "",
                ["train"] = dataset.TrainCount,
                ["test"] = dataset.TestCount,
                ["synthetic"] = dataset.IsSynthetic,
            });
        }
        if (options.Flag("json"))
        {
            CliJson.WriteLine(context.Out, new Dictionary<string, object> { ["datasets"] = rows });
        }
        else if (rows.Count == 0)
        {
            context.Out.WriteLine("No datasets found.");
        }
        else
        {
            foreach (var row in rows)
                context.Out.WriteLine($"{row["name"],-16} train {row["train"],6}  test {row["test"],6}  {((bool)row["synthetic"] ? "synthetic (generated in code)" : row["path"])}");
        }
        return CliApp.Success;
    }
}
