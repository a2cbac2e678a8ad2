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

    /// <summary>The files (stems, without .gz) of the four that are not in the folder.</summary>
    public static IReadOnlyList<string> MissingFiles(string folder) => FileStems.Where(stem => FindFile(folder, stem) is null).ToArray();

    /// <summary>
    /// Image counts and size from the four files' headers only (cheap: no pixels are read), checking that
    /// each labels file has as many items as its images file. The data itself is checked by <see cref="Load"/>.
    /// </summary>
    public static IdxDatasetSummary ReadSummary(string folder)
    {
        var paths = FileStems.Select(stem => FindFile(folder, stem)
            ?? throw new FileNotFoundException($"{stem}(.gz) is missing in {folder}.")).ToArray();
        var trainImages = IdxReader.ReadHeader(paths[0], expectedDimensions: 3);
        var trainLabels = IdxReader.ReadHeader(paths[1], expectedDimensions: 1);
        var testImages = IdxReader.ReadHeader(paths[2], expectedDimensions: 3);
        var testLabels = IdxReader.ReadHeader(paths[3], expectedDimensions: 1);
        if (trainLabels.Count != trainImages.Count)
            throw new IdxFormatException(paths[1], $"has {trainLabels.Count} labels but {Path.GetFileName(paths[0])} has {trainImages.Count} images");
        if (testLabels.Count != testImages.Count)
            throw new IdxFormatException(paths[3], $"has {testLabels.Count} labels but {Path.GetFileName(paths[2])} has {testImages.Count} images");
        if (trainImages.Dimensions[1] != testImages.Dimensions[1] || trainImages.Dimensions[2] != testImages.Dimensions[2])
            throw new IdxFormatException(paths[2], $"images are {testImages.Dimensions[1]}×{testImages.Dimensions[2]} but train images are {trainImages.Dimensions[1]}×{trainImages.Dimensions[2]}");
        return new IdxDatasetSummary(trainImages.Count, testImages.Count, trainImages.Dimensions[1], trainImages.Dimensions[2]);
    }

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

/// <summary>What the headers of an IDX dataset's four files say: image counts per part and image size.</summary>
public sealed record IdxDatasetSummary(int TrainCount, int TestCount, int Height, int Width);
