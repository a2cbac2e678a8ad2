using CompressionLab.Core.Data;

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
        foreach (var location in DatasetSource.Find())
        {
            var dataset = IdxDataset.Load(location.Name, location.Path, IdxDataset.FashionMnistClasses);
            rows.Add(new()
            {
                ["name"] = location.Name,
                ["path"] = location.Path,
                ["train"] = dataset.Train.Count,
                ["test"] = dataset.Test.Count,
                ["synthetic"] = location.Synthetic,
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
                context.Out.WriteLine($"{row["name"],-16} train {row["train"],6}  test {row["test"],6}  {row["path"]}");
        }
        return CliApp.Success;
    }
}
