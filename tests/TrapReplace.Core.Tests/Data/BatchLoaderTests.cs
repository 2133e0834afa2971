using TrapReplace.Data;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Data;

public sealed class BatchLoaderTests
{
    private static ImageDataset Ramp(int n, int size = 8)
    {
        // Image i holds value (i + column) at every pixel so crops and flips are recognisable.
        var pixels = new byte[n * 3 * size * size];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                        pixels[((i * 3 + c) * size + y) * size + x] = (byte)(20 * i + x + 1);
        using var images = tensor(pixels, [n, 3, size, size], ScalarType.Byte);
        using var labels = tensor(Enumerable.Range(0, n).Select(i => (long)(i % 2)).ToArray());
        return ImageDataset.FromTensors(images, labels, ["a", "b"]);
    }

    [Fact]
    public void Without_augmentation_a_batch_is_the_images_scaled_to_unit_range()
    {
        using var data = Ramp(4);
        var loader = new BatchLoader(data, 3, shuffle: false, dropLast: false);
        using var scope = NewDisposeScope();
        var batches = loader.Epoch(0).ToList();

        batches.Should().HaveCount(2);
        batches[1].Images.shape.Should().Equal(1, 3, 8, 8);
        batches[0].Images[2, 1, 5, 0].ToSingle().Should().BeApproximately(41f / 255f, 1e-7f);
        batches[1].Indices.data<long>().ToArray().Should().Equal(3L);
    }

    [Fact]
    public void Crop_and_flip_keep_every_image_a_shifted_or_mirrored_copy_of_itself()
    {
        using var data = Ramp(12, size: 16);
        var loader = new BatchLoader(data, 12, shuffle: true, dropLast: true, Augmentation.Standard, seed: 5);
        using var scope = NewDisposeScope();
        var batch = loader.Epoch(0).Single();
        var idx = batch.Indices.data<long>().ToArray();
        var sawFlip = false;
        var sawPadding = false;
        for (int k = 0; k < idx.Length; k++)
        {
            var row = batch.Images[k, 0, 8].mul(255).round().data<float>().ToArray();
            var nonZero = row.Where(v => v > 0).ToArray();
            // Every visible pixel belongs to image idx[k], and consecutive visible pixels differ by exactly 1.
            nonZero.Should().OnlyContain(v => v >= 20 * idx[k] + 1 && v <= 20 * idx[k] + 16);
            var steps = nonZero.Zip(nonZero.Skip(1), (a, b) => b - a).Distinct().ToArray();
            steps.Should().HaveCountLessThanOrEqualTo(1);
            if (steps.SequenceEqual([-1f])) sawFlip = true;
            if (nonZero.Length < 16) sawPadding = true;
        }
        sawFlip.Should().BeTrue();
        sawPadding.Should().BeTrue();
    }

    [Fact]
    public void Batches_depend_only_on_seed_epoch_and_position()
    {
        using var data = Ramp(12);
        var a = new BatchLoader(data, 4, true, true, Augmentation.Standard, seed: 9);
        var b = new BatchLoader(data, 4, true, true, Augmentation.Standard, seed: 9);
        using var scope = NewDisposeScope();

        var fromA = a.Epoch(3).ToList();
        var fromB = b.Epoch(3).ToList();
        for (int k = 0; k < fromA.Count; k++)
        {
            fromA[k].Indices.data<long>().ToArray().Should().Equal(fromB[k].Indices.data<long>().ToArray());
            fromA[k].Images.sub(fromB[k].Images).abs().max().ToSingle().Should().Be(0f);
        }
        a.PlanEpoch(4)[0].Should().NotEqual(a.PlanEpoch(3)[0]);
    }
}
