using TrapReplace.Data;
using TrapReplace.Evaluation;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Evaluation;

public sealed class EvaluatorTests
{
    /// <summary>Predicts the class written into pixel (0, 0, 0) as value/255 (10 classes).</summary>
    private sealed class PixelOracle() : nn.Module<Tensor, Tensor>("oracle")
    {
        public override Tensor forward(Tensor input)
        {
            var predicted = input[.., 0, 0, 0].mul(255).round().to(ScalarType.Int64);
            return nn.functional.one_hot(predicted, 10).to(ScalarType.Float32);
        }
    }

    private static ImageDataset Images(long[] encoded, long[] labels)
    {
        var images = zeros(encoded.Length, 3, 4, 4, dtype: ScalarType.Byte);
        for (int i = 0; i < encoded.Length; i++) images[i, 0, 0, 0] = (byte)encoded[i];
        using var l = tensor(labels);
        using (images) return ImageDataset.FromTensors(images, l, Enumerable.Range(0, 10).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
    }

    [Fact]
    public void Clean_accuracy_attack_success_and_robust_accuracy_are_counted_over_all_samples()
    {
        using var model = new PixelOracle();
        // 7 clean images: predictions 1,1,2,3,3,0,5 vs labels 1,1,2,3,4,4,4 -> 4 correct.
        using var clean = Images([1, 1, 2, 3, 3, 0, 5], [1, 1, 2, 3, 4, 4, 4]);
        // 5 triggered non-target images: predicted target 0 three times, true label once, other once.
        using var triggeredImages = zeros(5, 3, 4, 4);
        var predicted = new float[] { 0, 0, 0, 2, 9 };
        for (int i = 0; i < 5; i++) triggeredImages[i, 0, 0, 0] = predicted[i] / 255f;
        using var trueLabels = tensor(new long[] { 1, 2, 3, 2, 4 });

        var report = Evaluator.Evaluate(model, clean, new TriggeredImages(triggeredImages, trueLabels, 0), batchSize: 3);

        report.CleanAccuracy.Should().Be(4.0 / 7);
        report.AttackSuccessRate.Should().Be(3.0 / 5);
        report.RobustAccuracy.Should().Be(1.0 / 5);
        report.PerClassAccuracy[1].Should().Be(1);
        report.PerClassAccuracy[4].Should().Be(0);
        report.CleanCount.Should().Be(7);
        report.TriggeredCount.Should().Be(5);
        report.TriggeredPredictionShare.Should().Equal([0.6, 0, 0.2, 0, 0, 0, 0, 0, 0, 0.2], (a, b) => Math.Abs(a - b) < 1e-12,
            "three of five triggered images went to 0, one to 2, one to 9");
    }

    [Fact]
    public void A_triggered_set_added_to_a_clean_report_gives_the_report_of_one_evaluation_of_both()
    {
        using var model = new PixelOracle();
        using var clean = Images([1, 1, 2, 3, 3, 0, 5], [1, 1, 2, 3, 4, 4, 4]);
        using var triggeredImages = zeros(4, 3, 4, 4);
        var predicted = new float[] { 7, 7, 3, 1 };
        for (int i = 0; i < 4; i++) triggeredImages[i, 0, 0, 0] = predicted[i] / 255f;
        using var trueLabels = tensor(new long[] { 1, 2, 3, 2 });
        var triggered = new TriggeredImages(triggeredImages, trueLabels, 7);
        var cleanOnly = Evaluator.Evaluate(model, clean);
        model.train();

        var added = Evaluator.WithTriggered(model, cleanOnly, triggered, batchSize: 3);
        var whole = Evaluator.Evaluate(model, clean, triggered, batchSize: 3);

        model.training.Should().BeTrue("the model's mode is restored");
        (added.CleanAccuracy, added.AttackSuccessRate, added.RobustAccuracy, added.CleanCount, added.TriggeredCount)
            .Should().Be((whole.CleanAccuracy, whole.AttackSuccessRate, whole.RobustAccuracy, whole.CleanCount, whole.TriggeredCount));
        (added.AttackSuccessRate, added.RobustAccuracy, added.TriggeredCount).Should().Be((0.5, 0.25, 4), "two of four went to 7, one kept its label");
        added.PerClassAccuracy.Should().Equal(whole.PerClassAccuracy);
        added.TriggeredPredictionShare.Should().Equal(whole.TriggeredPredictionShare);
        cleanOnly.AttackSuccessRate.Should().BeNull("the clean report is not changed");

        var twice = () => Evaluator.WithTriggered(model, added, triggered);
        twice.Should().Throw<ArgumentException>().WithMessage("the report already measures a triggered set*").Which.ParamName.Should().Be("clean");
    }

    [Fact]
    public void A_triggered_set_holding_target_class_images_is_rejected()
    {
        using var model = new PixelOracle();
        using var clean = Images([1], [1]);
        using var images = zeros(2, 3, 4, 4);
        using var labels = tensor(new long[] { 0, 1 });
        var act = () => Evaluator.Evaluate(model, clean, new TriggeredImages(images, labels, 0));
        act.Should().Throw<ArgumentException>().WithMessage("*target-class (0)*");
    }

    [Theory]
    [InlineData(0.90, 1.00, 0.88, 0.05, (0.95 - 0.02 + 1) / 2)]
    [InlineData(0.90, 0.50, 0.92, 0.60, (0 - 0 + 1) / 2.0)]
    [InlineData(0.90, 1.00, 0.90, 0.00, 1.0)]
    public void DER_follows_BackdoorBench(double caBefore, double asrBefore, double caAfter, double asrAfter, double expected)
    {
        var before = new EvaluationReport(caBefore, asrBefore, 0, [], 1, 1);
        var after = new EvaluationReport(caAfter, asrAfter, 0, [], 1, 1);
        DefenseEffectiveness.Rating(before, after).Should().BeApproximately(expected, 1e-12);
    }
}
