using System.Security.Cryptography;
using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data.Imaging;

[Collection(nameof(OpenCvLinearResizeTests))] // no training and no thread count: runs beside the torch collection
public sealed class OpenCvLinearResizeTests
{
    /// <summary>The pseudo-random image the reference digests were made from: byte i = ((i * 1103515245 + 12345 + w * h) >> 16) &amp; 0xFF.</summary>
    private static byte[] PseudoRandom(int width, int height)
    {
        var bytes = new byte[width * height * 3];
        for (int i = 0; i < bytes.Length; i++)
            bytes[i] = (byte)((((ulong)i * 1103515245UL) + 12345UL + (ulong)(width * height)) >> 16);
        return bytes;
    }

    [Theory]
    // SHA-256 of cv2.resize(img, (32, 32)) (OpenCV 4.6.0, INTER_LINEAR) of PseudoRandom(w, h) as HxWx3 uint8.
    [InlineData(7, 5, "4d5859a50943e3ecba10e93860c438e2386c5c206bd1aa8a9df424ba45a834f9")]
    [InlineData(48, 32, "1ab95ba4f7e5cdced14f8cfd1719c5fce2541a6fedd38edd6c564c1ece1269bf")]
    [InlineData(100, 80, "a418ce2704b80b7d27a85c85d9d5f3fbb7b0737b23ac68bc2e30547b1b5253cb")]
    [InlineData(250, 243, "306dda6d8d7411e403073786bdd7e8587425a47edae37fcd898066e0a0bee33d")]
    public void Output_is_bit_identical_to_OpenCV(int width, int height, string expectedSha256)
    {
        var resized = OpenCvLinearResize.Resize(PseudoRandom(width, height), width, height, 3, 32, 32);

        Convert.ToHexStringLower(SHA256.HashData(resized)).Should().Be(expectedSha256);
    }

    [Fact]
    public void First_pixels_match_OpenCV_values()
    {
        var resized = OpenCvLinearResize.Resize(PseudoRandom(100, 80), 100, 80, 3, 32, 32);

        resized[..9].Select(b => (int)b).Should().Equal(151, 105, 107, 129, 108, 102, 169, 111, 98);
        resized[^3..].Select(b => (int)b).Should().Equal(78, 201, 147);
    }

    [Fact]
    public void Same_size_is_a_copy_and_a_two_times_reduction_is_the_rounded_block_mean()
    {
        var image = PseudoRandom(4, 4);
        OpenCvLinearResize.Resize(image, 4, 4, 3, 4, 4).Should().Equal(image);

        // 4x2 single-channel image: blocks (10, 20, 30, 41) and (0, 0, 1, 2).
        byte[] small = [10, 20, 0, 0, 30, 41, 1, 2];
        OpenCvLinearResize.Resize(small, 4, 2, 1, 2, 1).Select(b => (int)b).Should().Equal((10 + 20 + 30 + 41 + 2) >> 2, (0 + 0 + 1 + 2 + 2) >> 2);
    }

    [Fact]
    public void Enlarging_replicates_the_edges_and_interpolates_between_centres()
    {
        // 2x1 grey image (0, 200) enlarged to 8x1: source x = (d + 0.5) / 4 - 0.5, clamped to [0, 1].
        var resized = OpenCvLinearResize.Resize([0, 200], 2, 1, 1, 8, 1);

        // d = 0, 1 -> x <= 0 -> 0; d = 2 -> 0.125 -> 25; d = 3 -> 0.375 -> 75; d = 4 -> 125; d = 5 -> 175; d = 6, 7 -> 200.
        resized.Select(b => (int)b).Should().Equal(0, 0, 25, 75, 125, 175, 200, 200);
    }
}
