using CompressionLab.Core.Pruning;

namespace CompressionLab.Tests.Pruning;

/// <summary>Pool-adjacent-violators against hand results and against the min–max formula of isotonic regression.</summary>
public class IsotonicRegressionTests
{
    [Fact]
    public void PoolsEachViolatingPairIntoItsMean()
    {
        // 1 | 3 2 → 2.5 2.5 | 4 3 → 3.5 3.5 | 5
        Assert.Equal([1, 2.5, 2.5, 3.5, 3.5, 5], IsotonicRegression.NonDecreasing([1, 3, 2, 4, 3, 5]));
    }

    [Fact]
    public void APoolCanSwallowTheBlocksBeforeIt()
    {
        // 1 | 4 | 2 → 1 | 3 3 | 0 → 1 | (4 + 2 + 0) / 3 = 2: the pool of three stays above 1.
        Assert.Equal([1, 2, 2, 2], IsotonicRegression.NonDecreasing([1, 4, 2, 0]));
        Assert.Equal([2, 2, 2], IsotonicRegression.NonDecreasing([3, 2, 1]));
    }

    [Fact]
    public void NonDecreasingInputIsItsOwnFitAndEqualNeighboursStayApart()
    {
        Assert.Equal([1, 1, 2, 7], IsotonicRegression.NonDecreasing([1, 1, 2, 7]));
        Assert.Empty(IsotonicRegression.NonDecreasing([]));
    }

    [Fact]
    public void WeightsPullThePoolTowardsTheHeavierValue()
    {
        // (3·1 + 1·3) / (1 + 3) = 1.5.
        Assert.Equal([1.5, 1.5], IsotonicRegression.NonDecreasing([3, 1], [1, 3]));
        Assert.Throws<ArgumentException>(() => IsotonicRegression.NonDecreasing([3, 1], [1, 0]));
        Assert.Throws<ArgumentException>(() => IsotonicRegression.NonDecreasing([double.NaN]));
    }

    [Fact]
    public void AgreesWithTheMinMaxFormulaOnRandomSequences()
    {
        // Unweighted isotonic regression has the closed form f_i = max over j ≤ i of min over k ≥ i of mean(y_j … y_k).
        var random = new Random(7);
        for (var trial = 0; trial < 200; trial++)
        {
            var values = Enumerable.Range(0, random.Next(1, 9)).Select(_ => Math.Round(random.NextDouble() * 10, 1)).ToArray();
            var fitted = IsotonicRegression.NonDecreasing(values);
            for (var i = 0; i < values.Length; i++)
            {
                var expected = Enumerable.Range(0, i + 1).Max(j => Enumerable.Range(i, values.Length - i).Min(k => values[j..(k + 1)].Average()));
                Assert.Equal(expected, fitted[i], 9);
            }
        }
    }
}
