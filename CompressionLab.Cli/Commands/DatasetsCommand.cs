using System.CommandLine;

namespace CompressionLab.Cli.Commands;

/// <summary><c>datasets [--json]</c>: the datasets the CLI can find, where, and how many images each part has.</summary>
public sealed class DatasetsCommand : CliCommand
{
    private readonly Option<bool> _json = new("--json") { Description = "print one JSON object" };

    public DatasetsCommand() : base("datasets", "list the datasets found and where") => Options.Add(_json);

    public override bool ComputesWithTorch => false;

    public override int Execute(ParseResult parse, CliContext context)
    {
        var rows = DatasetSource.Find(context).Select(d => new DatasetJson(d.Name, d.Path ?? "", d.TrainCount, d.TestCount, d.IsSynthetic)).ToArray();
        if (parse.GetValue(_json))
        {
            CliJson.WriteLine(context.Out, new DatasetsJson(rows));
        }
        else if (rows.Length == 0)
        {
            context.Out.WriteLine("No datasets found.");
        }
        else
        {
            foreach (var row in rows)
                context.Out.WriteLine($"{row.Name,-16} train {row.Train,6}  test {row.Test,6}  {(row.Synthetic ? "synthetic (generated in code)" : row.Path)}");
        }
        return CliApp.Success;
    }
}

internal sealed record DatasetsJson(IReadOnlyList<DatasetJson> Datasets);

internal sealed record DatasetJson(string Name, string Path, int Train, int Test, bool Synthetic);
