namespace CompressionLab.Core.Distillation;

/// <summary>The subset-wide comparison at one temperature. Entropies and divergences in nats, means over images.</summary>
/// <param name="Kl">Mean KL(teacher(T) ‖ student(T)).</param>
/// <param name="KlT2">The same times T²: the soft term of Hinton's loss on the scale of the hard one.</param>
/// <param name="Agreement">Fraction of images where the teacher's top-1 at T (for one teacher, its logits' argmax, the same at every T; for an ensemble, the argmax of the averaged soft targets, which can move with T) is the student's.</param>
/// <param name="ClassSimilarity">[true class][class]: the mean teacher soft target over the images of each true class (rows of a class with no images are all 0).</param>
public sealed record TemperaturePoint(
    double Temperature,
    double TeacherEntropy,
    double StudentEntropy,
    double Kl,
    double KlT2,
    double Agreement,
    IReadOnlyList<ClassComparison> PerClass,
    double[][] ClassSimilarity);

/// <summary>One true class at one temperature: its images, their mean KL, and how often teacher and student agree on top-1.</summary>
public sealed record ClassComparison(int Class, int Images, double Kl, double Agreement);

/// <summary>One image at one temperature: teacher and student soft targets side by side.</summary>
public sealed record ImageSoftTargets(int Row, int Label, double[] Teacher, double[] Student, double Kl, int TeacherTop1, int StudentTop1);

/// <summary>
/// Teacher (one model, or an ensemble whose soft targets are averaged at each T) against a student, over the same rows.
/// Built once from logits; every query is arithmetic on them (for 2,000 images and 10 classes a temperature costs well
/// under a millisecond), so a page can answer a slider move without running a model.
/// </summary>
public sealed class SoftTargetComparison
{
    /// <summary>Hinton's grid, what the page starts with.</summary>
    public static readonly IReadOnlyList<double> DefaultTemperatures = [1, 2, 3, 4, 6, 8, 12, 16, 20];

    private readonly IReadOnlyList<ModelLogits> _teachers;
    private readonly ModelLogits _student;

    public SoftTargetComparison(IReadOnlyList<ModelLogits> teachers, ModelLogits student)
    {
        ArgumentNullException.ThrowIfNull(teachers);
        ArgumentNullException.ThrowIfNull(student);
        if (teachers.Count == 0) throw new ArgumentException("A comparison needs at least one teacher.", nameof(teachers));
        student.Validate();
        foreach (var teacher in teachers)
        {
            teacher.Validate();
            if (teacher.Classes != student.Classes)
                throw new ArgumentException($"Teacher {teacher.Model} has {teacher.Classes} classes but student {student.Model} has {student.Classes}.");
            if (teacher.Rows != student.Rows || teacher.SubsetKey != student.SubsetKey)
                throw new ArgumentException($"Teacher {teacher.Model} has logits on {teacher.Rows} images ({teacher.SubsetKey}) but student {student.Model} on {student.Rows} ({student.SubsetKey}); both must be computed on the same images.");
            if (!teacher.Labels.AsSpan().SequenceEqual(student.Labels))
                throw new ArgumentException($"Teacher {teacher.Model} and student {student.Model} disagree on the images' labels: not the same images.");
        }
        _teachers = teachers;
        _student = student;
        Agreement = ComputeAgreement();
    }

    public int Rows => _student.Rows;
    public int Classes => _student.Classes;
    public IReadOnlyList<int> Labels => _student.Labels;

    /// <summary>Fraction of images where teacher and student pick the same class at T = 1 (for one teacher, at any T).</summary>
    public double Agreement { get; }

    /// <summary>The teacher's soft targets for one row: the mean of its members' p(T) (Hinton's ensemble).</summary>
    public double[] TeacherSoftTargets(int row, double temperature)
    {
        var p = new double[Classes];
        var member = new double[Classes];
        foreach (var teacher in _teachers)
        {
            SoftTargets.LogSoftmax(teacher.Row(row), temperature, member);
            for (var c = 0; c < Classes; c++) p[c] += Math.Exp(member[c]);
        }
        for (var c = 0; c < Classes; c++) p[c] /= _teachers.Count;
        return p;
    }

    public ImageSoftTargets Image(int row, double temperature)
    {
        if (row < 0 || row >= Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"Images are numbered 0..{Rows - 1}.");
        var teacher = TeacherSoftTargets(row, temperature);
        var logStudent = new double[Classes];
        SoftTargets.LogSoftmax(_student.Row(row), temperature, logStudent);
        var kl = SoftTargets.KlDivergence(teacher, logStudent);
        var teacherTop1 = _teachers.Count == 1 ? SoftTargets.ArgMax(_teachers[0].Row(row)) : SoftTargets.ArgMax(teacher);
        return new ImageSoftTargets(row, _student.Labels[row], teacher, [.. logStudent.Select(Math.Exp)], kl,
            teacherTop1, SoftTargets.ArgMax(_student.Row(row)));
    }

    /// <summary>All temperatures of <paramref name="temperatures"/>, in the given order.</summary>
    public IReadOnlyList<TemperaturePoint> Sweep(IReadOnlyList<double> temperatures) => [.. temperatures.Select(At)];

    public TemperaturePoint At(double temperature)
    {
        SoftTargets.CheckTemperature(temperature);
        var classes = Classes;
        var teacher = new double[classes];
        var member = new double[classes];
        var logStudent = new double[classes];
        var similarity = new double[classes][];
        for (var c = 0; c < classes; c++) similarity[c] = new double[classes];
        var classKl = new double[classes];
        var classImages = new int[classes];
        var classAgree = new int[classes];
        double teacherEntropy = 0, studentEntropy = 0, kl = 0;
        var agreeing = 0;
        for (var row = 0; row < Rows; row++)
        {
            Array.Clear(teacher);
            foreach (var t in _teachers)
            {
                SoftTargets.LogSoftmax(t.Row(row), temperature, member);
                for (var c = 0; c < classes; c++) teacher[c] += Math.Exp(member[c]);
            }
            for (var c = 0; c < classes; c++) teacher[c] /= _teachers.Count;
            SoftTargets.LogSoftmax(_student.Row(row), temperature, logStudent);

            teacherEntropy += SoftTargets.Entropy(teacher);
            var hs = 0.0;
            for (var c = 0; c < classes; c++) hs -= Math.Exp(logStudent[c]) * logStudent[c];
            studentEntropy += hs;
            var rowKl = SoftTargets.KlDivergence(teacher, logStudent);
            kl += rowKl;

            var label = _student.Labels[row];
            classImages[label]++;
            classKl[label] += rowKl;
            var teacherTop1 = _teachers.Count == 1 ? SoftTargets.ArgMax(_teachers[0].Row(row)) : SoftTargets.ArgMax(teacher);
            if (teacherTop1 == SoftTargets.ArgMax(_student.Row(row)))
            {
                classAgree[label]++;
                agreeing++;
            }
            for (var c = 0; c < classes; c++) similarity[label][c] += teacher[c];
        }
        var perClass = new ClassComparison[classes];
        for (var c = 0; c < classes; c++)
        {
            var n = classImages[c];
            if (n > 0)
                for (var k = 0; k < classes; k++) similarity[c][k] /= n;
            perClass[c] = new ClassComparison(c, n, n > 0 ? classKl[c] / n : double.NaN, n > 0 ? (double)classAgree[c] / n : double.NaN);
        }
        var meanKl = kl / Rows;
        return new TemperaturePoint(temperature, teacherEntropy / Rows, studentEntropy / Rows, meanKl, meanKl * temperature * temperature,
            (double)agreeing / Rows, perClass, similarity);
    }

    /// <summary>
    /// Rows ordered by how much teacher and student disagree at <paramref name="temperature"/>: images whose top-1
    /// differs first, then by KL(teacher ‖ student), largest first.
    /// </summary>
    public IReadOnlyList<int> MostDisagreeing(double temperature, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var scored = Enumerable.Range(0, Rows)
            .Select(row => (Row: row, Image: Image(row, temperature)))
            .OrderByDescending(x => x.Image.TeacherTop1 != x.Image.StudentTop1)
            .ThenByDescending(x => x.Image.Kl)
            .ThenBy(x => x.Row);
        return [.. scored.Take(count).Select(x => x.Row)];
    }

    private double ComputeAgreement() => At(1).Agreement;
}
