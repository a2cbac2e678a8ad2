namespace CompressionLab.Core.Data;

/// <summary>Loads an MNIST-family dataset (four IDX files, raw or .gz) from a folder.</summary>
public static class IdxDataset
{
    public const string FashionMnistName = "fashion-mnist";

    /// <summary>Fashion-MNIST's classes (Xiao, Rasul and Vollgraf 2017), in label order.</summary>
    public static IReadOnlyList<string> FashionMnistClasses { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static readonly string[] FileStems =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>True when all four files are in the folder (gzip or raw).</summary>
    public static bool IsPresent(string folder) => FileStems.All(stem => FindFile(folder, stem) is not null);

    public static Dataset LoadFashionMnist(string folder) => Load(FashionMnistName, folder, FashionMnistClasses);

    public static Dataset Load(string name, string folder, IReadOnlyList<string> classNames)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Dataset {name}: folder {folder} does not exist.");
        var train = LoadPart(name, "train", folder, FileStems[0], FileStems[1], classNames);
        var test = LoadPart(name, "test", folder, FileStems[2], FileStems[3], classNames);
        if (train.Height != test.Height || train.Width != test.Width)
            throw new InvalidDataException($"Dataset {name}: train images are {train.Height}×{train.Width} but test images are {test.Height}×{test.Width}.");
        return new Dataset(name, train, test, IsSynthetic: false, Source: Path.GetFullPath(folder));
    }

    private static LabeledImages LoadPart(string name, string part, string folder, string imagesStem, string labelsStem, IReadOnlyList<string> classNames)
    {
        var imagesPath = FindFile(folder, imagesStem) ?? throw new FileNotFoundException($"Dataset {name}: {imagesStem}(.gz) is missing in {folder}.");
        var labelsPath = FindFile(folder, labelsStem) ?? throw new FileNotFoundException($"Dataset {name}: {labelsStem}(.gz) is missing in {folder}.");
        var images = IdxReader.ReadImages(imagesPath);
        var labels = IdxReader.ReadLabels(labelsPath);
        if (images.Dimensions[0] != labels.Dimensions[0])
            throw new IdxFormatException(labelsPath, $"has {labels.Dimensions[0]} labels but {Path.GetFileName(imagesPath)} has {images.Dimensions[0]} images");
        for (var i = 0; i < labels.Data.Length; i++)
            if (labels.Data[i] >= classNames.Count)
                throw new IdxFormatException(labelsPath, $"label {labels.Data[i]} at index {i} is outside the {classNames.Count} classes");
        return new LabeledImages($"{name}/{part}", images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2], classNames);
    }

    private static string? FindFile(string folder, string stem)
    {
        foreach (var candidate in new[] { stem + ".gz", stem })
        {
            var path = Path.Combine(folder, candidate);
            if (File.Exists(path)) return path;
        }
        return null;
    }
}
